//! The Lua scripts, one file each under `scripts/`: what a script takes (`KEYS`, `ARGV`) and
//! answers is written at the top of its file. A standalone script is `prelude.lua` (the
//! per-user index helpers) followed by its own file, and `principal.lua` (the issuer
//! comparison) before the listing and revocation scripts; a cluster script is the `#!lua`
//! line followed by its file under `scripts/cluster/` (and `principal.lua` for the
//! revocation).

use redis::Script;

/// The standalone scripts' index helpers.
const PRELUDE: &str = include_str!("scripts/prelude.lua");

/// The listing and revocation scripts' issuer comparison.
const PRINCIPAL: &str = include_str!("scripts/principal.lua");

/// The scripts of a store, each built (its SHA computed) once per store.
pub(super) struct Scripts {
    pub(super) create: Script,
    pub(super) save: Script,
    pub(super) touch: Script,
    pub(super) delete: Script,
    pub(super) cycle: Script,
    pub(super) list: Script,
    pub(super) revoke: Script,
    pub(super) cluster: ClusterScripts,
}

impl Scripts {
    pub(super) fn new() -> Self {
        let script = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        let per_principal = |body: &str| Script::new(&format!("{PRELUDE}{PRINCIPAL}{body}"));
        Self {
            create: script(include_str!("scripts/create.lua")),
            save: script(include_str!("scripts/save.lua")),
            touch: script(include_str!("scripts/touch.lua")),
            delete: script(include_str!("scripts/delete.lua")),
            cycle: script(include_str!("scripts/cycle.lua")),
            list: per_principal(include_str!("scripts/list.lua")),
            revoke: per_principal(include_str!("scripts/revoke.lua")),
            cluster: ClusterScripts::new(),
        }
    }
}

/// The scripts of a store on a Redis Cluster: each touches one declared key.
pub(super) struct ClusterScripts {
    pub(super) index: Script,
    pub(super) create: Script,
    pub(super) save: Script,
    pub(super) touch: Script,
    pub(super) delete: Script,
    pub(super) members: Script,
    pub(super) revoke: Script,
}

impl ClusterScripts {
    fn new() -> Self {
        // The `#!lua` line (Redis 7) makes the server hold each script to the slot of its
        // declared key: touching a key of another slot is an error even when that slot is on
        // the same node, instead of working until the slots are moved apart. (The cluster
        // tests replay some of these scripts, built the same way.)
        let script = |body: &str| Script::new(&format!("#!lua\n{body}"));
        Self {
            index: script(include_str!("scripts/cluster/index.lua")),
            create: script(include_str!("scripts/cluster/create.lua")),
            save: script(include_str!("scripts/cluster/save.lua")),
            touch: script(include_str!("scripts/cluster/touch.lua")),
            delete: script(include_str!("scripts/cluster/delete.lua")),
            members: script(include_str!("scripts/cluster/members.lua")),
            revoke: script(&format!(
                "{PRINCIPAL}{}",
                include_str!("scripts/cluster/revoke.lua")
            )),
        }
    }
}
