//! The checks of what a record holds: large and many values, any text.

use auth_core::SessionData;
use serde_json::{Value, json};

use super::Harness;
use super::check::{Check, LIVE};

fn data(pairs: &[(&str, Value)]) -> SessionData {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect()
}

/// A 1 MiB string value and a 10,000-key map survive create, load and save unchanged.
pub async fn large_values_round_trip<H: Harness>(harness: &H) {
    let c = Check("large_values_round_trip");
    let store = harness.store().await;
    let big: String = ('a'..='z').cycle().take(1 << 20).collect();
    let record = c.record(harness, LIVE).with_value("big", json!(big));
    c.create(&store, &record).await;
    let loaded = c
        .load(&store, &record.id, "record with a 1 MiB value")
        .await;
    c.ensure(loaded.data == record.data, || {
        let len = loaded.data.get("big").and_then(Value::as_str).map(str::len);
        format!("1 MiB value changed: loaded length {len:?}")
    });

    let many: SessionData = (0..10_000)
        .map(|n| (format!("key-{n:05}"), json!({ "n": n, "s": n.to_string() })))
        .collect();
    let record = c.record(harness, LIVE).with_data(many);
    c.create(&store, &record).await;
    let loaded = c.load(&store, &record.id, "record with 10,000 keys").await;
    c.ensure(loaded.data == record.data, || {
        format!("10,000-key map changed: loaded {} keys", loaded.data.len())
    });
    let mut changed = loaded;
    changed.data_mut().insert("key-10000".into(), json!(big));
    c.save(&store, &changed, "save of the 10,000-key map").await;
    let loaded = c.load(&store, &record.id, "saved 10,000-key map").await;
    c.ensure(loaded.data == changed.data, || {
        format!("saved map changed: loaded {} keys", loaded.data.len())
    });
}

/// Keys and values in many scripts, emoji, combining characters, quotes, escapes and control
/// characters round-trip exactly; canonically equivalent keys stay distinct.
pub async fn unicode_keys_and_values_round_trip<H: Harness>(harness: &H) {
    let c = Check("unicode_keys_and_values_round_trip");
    let store = harness.store().await;
    let pairs = data(&[
        ("ключ", json!("значение")),
        ("键", json!({"嵌套": ["√", "\u{1F600}"]})),
        (
            "🔑",
            json!("🎉 party \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}"),
        ),
        ("\u{e9}", json!("precomposed")),
        ("e\u{301}", json!("decomposed")),
        ("", json!("empty key")),
        (" spaced key ", json!(" spaced value ")),
        ("quote\"back\\slash", json!("'single' \"double\" \\ /")),
        ("tab\tnew\nline", json!("control \u{1}\u{7}\u{1b}[0m\u{7f}")),
        ("\u{202e}rtl", json!("مرحبا بالعالم")),
        ("数字", json!([1.5, -0.0, 1e300, 9_007_199_254_740_993_u64])),
    ]);
    let expected = pairs.len();
    let record = c.record(harness, LIVE).with_data(pairs);
    c.create(&store, &record).await;
    let loaded = c.load(&store, &record.id, "record with unicode data").await;
    c.eq(loaded.data.len(), expected, "number of keys");
    c.eq(&loaded.data, &record.data, "unicode data");

    let changed = loaded.with_value("ключ", json!("изменено ✓"));
    c.save(&store, &changed, "save of unicode data").await;
    let loaded = c.load(&store, &record.id, "saved unicode data").await;
    c.eq(&loaded.data, &changed.data, "saved unicode data");
}
