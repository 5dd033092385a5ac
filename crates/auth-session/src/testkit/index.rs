//! The checks of the per-principal index: [`SessionStore::sessions_of`] and
//! [`SessionStore::delete_sessions_of`].
//!
//! Each check logs in three principals named `bob` (of issuer A, of issuer B, and a local
//! `bob`) under subjects of its own (a random suffix), so checks that share a store never see
//! each other's sessions. Listed records are told apart by a `tag` in their data, since a store
//! that hashes IDs lists them with all-zero IDs.
//!
//! A store without a per-principal index answers [`StoreError::Unsupported`] from both
//! methods (their default implementations): each check then checks that, and that nothing
//! else is answered, and ends there.

use auth_core::{SaveOutcome, SessionId, SessionRecord, SessionStore, StoreError};
use serde_json::{Value, json};

use super::Harness;
use super::check::{Check, LIVE, PAST_SHORT, SHORT};

/// Issuer A, with non-ASCII characters.
const ISSUER_A: &str = "https://idp.example/t\u{e9}nant/\u{2713}";
/// Issuer B: a prefix of A, and another issuer all the same.
const ISSUER_B: &str = "https://idp.example";
const A: Option<&str> = Some(ISSUER_A);
const B: Option<&str> = Some(ISSUER_B);

impl Check {
    /// A subject no other check uses: `name` and a random suffix.
    fn subject(&self, name: &str) -> String {
        format!("{name}.{}", self.id().encode())
    }

    /// A live record tagged `tag`, of `issuer` + `subject` (anonymous without a subject).
    fn tagged<H: Harness>(
        &self,
        harness: &H,
        tag: &str,
        principal: Option<(Option<&str>, &str)>,
    ) -> SessionRecord {
        let mut record = self.record(harness, LIVE).with_value("tag", json!(tag));
        if let Some((issuer, subject)) = principal {
            record = record.with_subject(subject).with_roles(["user"]);
            record.issuer = issuer.map(str::to_owned);
        }
        record
    }

    /// Whether the store has a per-principal index: `false` when both methods answer
    /// `Unsupported` (the check ends there), a failure when only one does or either fails.
    async fn has_index<S: SessionStore>(&self, store: &S) -> bool {
        let nobody = self.subject("nobody");
        let listed = store.sessions_of(None, &nobody, None).await;
        let deleted = store.delete_sessions_of(None, &nobody, None).await;
        match (listed, deleted) {
            (Err(StoreError::Unsupported(_)), Err(StoreError::Unsupported(_))) => false,
            (Ok(listed), Ok(deleted)) => {
                self.eq(listed.len(), 0, "sessions of a subject without any");
                self.eq(deleted, 0, "sessions deleted of a subject without any");
                true
            }
            (Err(StoreError::Unsupported(_)), _) | (_, Err(StoreError::Unsupported(_))) => self
                .fail("one of sessions_of and delete_sessions_of is Unsupported, the other is not"),
            (Err(error), _) | (_, Err(error)) => self.fail(format_args!(
                "a per-principal call on an unknown subject returned an error: {error}"
            )),
        }
    }

    /// The sorted tags of the principal's sessions but `except`, after checking that each is
    /// of that principal, is one of `known`, carries its ID (or all zeros, with hashed IDs)
    /// and is whole (what `load` returns).
    async fn listed<S: SessionStore>(
        &self,
        store: &S,
        (issuer, subject): (Option<&str>, &str),
        except: Option<&SessionId>,
        known: &[&SessionRecord],
    ) -> Vec<String> {
        let listed = self.ok(
            store.sessions_of(issuer, subject, except).await,
            "sessions_of",
        );
        let mut tags = Vec::with_capacity(listed.len());
        for record in listed {
            let what = format!("a session listed for {subject:?} of {issuer:?}");
            self.eq(record.subject.as_deref(), Some(subject), &what);
            self.eq(record.issuer.as_deref(), issuer, &what);
            let Some(tag) = record.data.get("tag").and_then(Value::as_str) else {
                self.fail(format_args!("{what}: no session of this check"));
            };
            let Some(created) = known
                .iter()
                .find(|known| known.data.get("tag") == Some(&json!(tag)))
            else {
                self.fail(format_args!("{what}: unknown tag {tag}"));
            };
            let zero = SessionId::from_bytes([0; SessionId::LEN]);
            self.ensure(record.id == created.id || record.id == zero, || {
                format!("{what} (`{tag}`): its ID is neither its own nor all zeros")
            });
            let mut loaded = self.load(store, &created.id, &what).await;
            loaded.id = record.id;
            self.eq(&record, &loaded, &format!("{what} (`{tag}`), against load"));
            tags.push(tag.to_owned());
        }
        tags.sort();
        tags
    }

    /// `delete_sessions_of`'s count.
    async fn deleted<S: SessionStore>(
        &self,
        store: &S,
        (issuer, subject): (Option<&str>, &str),
        keep: Option<&SessionId>,
    ) -> u64 {
        self.ok(
            store.delete_sessions_of(issuer, subject, keep).await,
            "delete_sessions_of",
        )
    }

    async fn is_loadable<S: SessionStore>(&self, store: &S, record: &SessionRecord) -> bool {
        self.ok(store.load(&record.id).await, "load").is_some()
    }
}

/// `sessions_of` lists the live sessions of one principal (issuer and subject, compared
/// exactly) and no other: bob of A, bob of B and a local bob each list their own, `None` is a
/// local login and not "any issuer", an expired or anonymous session is never listed, and
/// `except` leaves one out. Each listed record is whole, with its ID or all zeros.
pub async fn sessions_of_lists_one_principal_only<H: Harness>(harness: &H) {
    let c = Check("sessions_of_lists_one_principal_only");
    let store = harness.store().await;
    if !c.has_index(&store).await {
        return;
    }
    let (bob, alice) = (c.subject("bob"), c.subject("alice"));
    let a0 = c.tagged(harness, "a0", Some((A, &bob)));
    let a1 = c
        .tagged(harness, "a1", Some((A, &bob)))
        .with_value("cart", json!([1, 2]));
    let of_b = c.tagged(harness, "b", Some((B, &bob)));
    let local = c.tagged(harness, "local", Some((None, &bob)));
    let alice_a = c.tagged(harness, "alice", Some((A, &alice)));
    let anonymous = c.tagged(harness, "anonymous", None);
    let mut expired = c.tagged(harness, "expired", Some((A, &bob)));
    expired.expires_at = c.record(harness, SHORT).expires_at;
    let known = [&a0, &a1, &of_b, &local, &alice_a, &anonymous, &expired];
    for record in known {
        c.create(&store, record).await;
    }
    harness.advance(PAST_SHORT).await;

    c.eq(
        c.listed(&store, (A, &bob), None, &known).await,
        vec!["a0".to_owned(), "a1".to_owned()],
        "sessions of bob of A (an expired one is not listed)",
    );
    c.eq(
        c.listed(&store, (B, &bob), None, &known).await,
        vec!["b".to_owned()],
        "sessions of bob of B (a prefix of A is another issuer)",
    );
    c.eq(
        c.listed(&store, (None, &bob), None, &known).await,
        vec!["local".to_owned()],
        "sessions of the local bob (None is a local login, not any issuer)",
    );
    c.eq(
        c.listed(&store, (Some(""), &bob), None, &known).await,
        Vec::new(),
        "sessions of bob of the empty issuer",
    );
    c.eq(
        c.listed(&store, (A, &alice), None, &known).await,
        vec!["alice".to_owned()],
        "sessions of alice of A",
    );
    c.eq(
        c.listed(&store, (None, &alice), None, &known).await,
        Vec::new(),
        "sessions of a local alice",
    );
    c.eq(
        c.listed(&store, (A, &bob), Some(&a0.id), &known).await,
        vec!["a1".to_owned()],
        "sessions of bob of A except a0",
    );
    for other in [&of_b.id, &c.id()] {
        c.eq(
            c.listed(&store, (A, &bob), Some(other), &known).await,
            vec!["a0".to_owned(), "a1".to_owned()],
            "sessions of bob of A except a session that is not one of them",
        );
    }
}

/// `delete_sessions_of` ends the live sessions of one principal but `keep`, counts them, and
/// leaves every other principal's: a deleted session stays deleted (save and touch find
/// nothing), an expired one is not counted, a `keep` of another principal changes nothing,
/// and a second call deletes nothing.
pub async fn delete_sessions_of_ends_one_principal_only<H: Harness>(harness: &H) {
    let c = Check("delete_sessions_of_ends_one_principal_only");
    let store = harness.store().await;
    if !c.has_index(&store).await {
        return;
    }
    let (bob, alice) = (c.subject("bob"), c.subject("alice"));
    let a0 = c.tagged(harness, "a0", Some((A, &bob)));
    let a1 = c.tagged(harness, "a1", Some((A, &bob)));
    let a2 = c.tagged(harness, "a2", Some((A, &bob)));
    let of_b = c.tagged(harness, "b", Some((B, &bob)));
    let local = c.tagged(harness, "local", Some((None, &bob)));
    let alice_a = c.tagged(harness, "alice", Some((A, &alice)));
    let mut expired = c.tagged(harness, "expired", Some((A, &bob)));
    expired.expires_at = c.record(harness, SHORT).expires_at;
    let known = [&a0, &a1, &a2, &of_b, &local, &alice_a, &expired];
    for record in known {
        c.create(&store, record).await;
    }
    let a1_loaded = c.load(&store, &a1.id, "a1 before the revocation").await;
    harness.advance(PAST_SHORT).await;

    c.eq(
        c.deleted(&store, (A, &bob), Some(&a0.id)).await,
        2,
        "sessions of bob of A deleted but a0 (an expired one is not counted)",
    );
    c.eq(c.is_loadable(&store, &a0).await, true, "the kept session");
    c.load_none(&store, &a1.id, "a deleted session").await;
    c.load_none(&store, &a2.id, "a deleted session").await;
    let outcome = c.ok(store.save(&a1_loaded).await, "save");
    c.eq(outcome, SaveOutcome::NotFound, "save of a deleted session");
    let touched = c.ok(store.touch(&a2.id, harness.now() + LIVE).await, "touch");
    c.eq(touched, false, "touch of a deleted session");
    c.load_none(&store, &a1.id, "a deleted session after a late save")
        .await;
    c.eq(
        c.listed(&store, (A, &bob), None, &known).await,
        vec!["a0".to_owned()],
        "sessions of bob of A after the revocation",
    );

    c.eq(
        c.deleted(&store, (B, &bob), Some(&a0.id)).await,
        1,
        "sessions of bob of B deleted, keeping a session of A",
    );
    c.eq(
        c.is_loadable(&store, &a0).await,
        true,
        "a session of A kept by a revocation of B",
    );
    c.eq(
        c.deleted(&store, (A, &bob), None).await,
        1,
        "sessions of bob of A deleted, everywhere",
    );
    c.eq(
        c.deleted(&store, (A, &bob), None).await,
        0,
        "sessions of bob of A deleted again",
    );
    for (record, what) in [(&local, "the local bob"), (&alice_a, "alice of A")] {
        c.eq(
            c.is_loadable(&store, record).await,
            true,
            &format!("the session of {what} after bob of A and of B were revoked"),
        );
    }
    c.eq(
        c.deleted(&store, (None, &bob), None).await,
        1,
        "sessions of the local bob deleted (None is not any issuer)",
    );
    c.eq(
        c.is_loadable(&store, &alice_a).await,
        true,
        "the session of alice of A after every bob was revoked",
    );
    c.eq(
        c.listed(&store, (A, &alice), None, &known).await,
        vec!["alice".to_owned()],
        "sessions of alice of A after every bob was revoked",
    );
}

/// A session is listed and revoked as the principal it has now: saved under the same ID with
/// another issuer (a re-login without a new ID) it moves from bob of B to bob of A; cycled
/// from an anonymous session, its new ID is the principal's; saved with another subject or
/// with none (logged out), it leaves bob's sessions.
pub async fn a_relogin_moves_a_session_to_its_new_principal<H: Harness>(harness: &H) {
    let c = Check("a_relogin_moves_a_session_to_its_new_principal");
    let store = harness.store().await;
    if !c.has_index(&store).await {
        return;
    }
    let (bob, alice) = (c.subject("bob"), c.subject("alice"));
    let moved = c.tagged(harness, "moved", Some((B, &bob)));
    let anonymous = c.tagged(harness, "cycled", None);
    let mut cycled = anonymous.clone().with_subject(bob.as_str());
    cycled.id = c.id();
    cycled.issuer = A.map(str::to_owned);
    let left = c.tagged(harness, "left", Some((A, &bob)));
    let known = [&moved, &cycled, &left];
    for record in [&moved, &anonymous, &left] {
        c.create(&store, record).await;
    }

    let mut relogin = c.load(&store, &moved.id, "bob of B").await;
    relogin.issuer = A.map(str::to_owned);
    c.save(&store, &relogin, "save as bob of A").await;
    c.eq(
        c.listed(&store, (B, &bob), None, &known).await,
        Vec::new(),
        "sessions of bob of B after a re-login as bob of A",
    );
    c.eq(
        c.listed(&store, (A, &bob), None, &known).await,
        vec!["left".to_owned(), "moved".to_owned()],
        "sessions of bob of A after a re-login of bob of B as bob of A",
    );
    c.eq(
        c.deleted(&store, (B, &bob), None).await,
        0,
        "sessions of bob of B deleted after the re-login",
    );
    c.eq(
        c.is_loadable(&store, &moved).await,
        true,
        "a session revoked as its former principal's",
    );

    let outcome = c.ok(store.cycle(&anonymous.id, &cycled).await, "cycle");
    c.eq(
        outcome,
        auth_core::CreateOutcome::Created,
        "cycle of an anonymous session at login",
    );
    c.eq(
        c.listed(&store, (A, &bob), None, &known).await,
        vec!["cycled".to_owned(), "left".to_owned(), "moved".to_owned()],
        "sessions of bob of A after a login that cycled an anonymous session",
    );

    let to_alice = c
        .load(&store, &moved.id, "the moved session")
        .await
        .with_subject(alice.as_str());
    c.save(&store, &to_alice, "save as alice of A").await;
    let mut logged_out = c.load(&store, &left.id, "the session to log out").await;
    logged_out.subject = None;
    logged_out.issuer = None;
    logged_out.roles.clear();
    c.save(&store, &logged_out, "save without a login").await;
    c.eq(
        c.listed(&store, (A, &bob), None, &known).await,
        vec!["cycled".to_owned()],
        "sessions of bob of A after one moved to alice and one logged out",
    );
    c.eq(
        c.listed(&store, (A, &alice), None, &[&to_alice]).await,
        vec!["moved".to_owned()],
        "sessions of alice of A",
    );
    c.eq(
        c.deleted(&store, (A, &bob), None).await,
        1,
        "sessions of bob of A deleted",
    );
    for record in [&to_alice, &logged_out] {
        c.eq(
            c.is_loadable(&store, record).await,
            true,
            "a session that is no longer bob's, after bob's revocation",
        );
    }
    c.eq(
        c.deleted(&store, (A, &alice), None).await,
        1,
        "sessions of alice of A deleted",
    );
}
