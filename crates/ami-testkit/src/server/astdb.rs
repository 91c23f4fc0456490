//! AstDB actions: DBPut, DBGet, DBGetTree, DBDel, DBDelTree.

use super::ServerSession;
use crate::request::Request;
use crate::wire::{ack, error, W};

impl ServerSession {
    pub(super) fn dbput(&mut self, r: &Request, aid: Option<&[u8]>) {
        let (family, key) = (r.text("Family"), r.text("Key"));
        if family.is_empty() {
            return self.respond(error(aid, "No family specified"));
        }
        if key.is_empty() {
            return self.respond(error(aid, "No key specified"));
        }
        self.pbx
            .lock()
            .db
            .insert(format!("/{family}/{key}"), r.text("Val"));
        self.respond(ack(aid, "Updated database successfully"));
    }

    /// Family and key of a DBGet/DBDel; the error response when missing.
    pub(super) fn db_family_key(
        &mut self,
        r: &Request,
        aid: Option<&[u8]>,
    ) -> Option<(String, String)> {
        let (family, key) = (r.text("Family"), r.text("Key"));
        if family.is_empty() {
            self.respond(error(aid, "No family specified."));
            return None;
        }
        if key.is_empty() {
            self.respond(error(aid, "No key specified."));
            return None;
        }
        Some((family, key))
    }

    pub(super) fn dbget(&mut self, r: &Request, aid: Option<&[u8]>) {
        let Some((family, key)) = self.db_family_key(r, aid) else {
            return;
        };
        let value = self.pbx.lock().db.get(&format!("/{family}/{key}")).cloned();
        let Some(value) = value else {
            return self.respond(error(aid, "Database entry not found"));
        };
        let item = W::event("DBGetResponse")
            .h("Family", &family)
            .h("Key", &key)
            .h("Val", value)
            .aid(aid);
        self.list(aid, "Result will follow", vec![item], "DBGetComplete");
    }

    pub(super) fn dbgettree(&mut self, r: &Request, aid: Option<&[u8]>) {
        let entries = self.pbx.lock().db_tree(&r.text("Family"), &r.text("Key"));
        let items = entries
            .into_iter()
            .map(|(k, v)| {
                W::event("DBGetTreeResponse")
                    .h("Key", k)
                    .h("Val", v)
                    .aid(aid)
            })
            .collect();
        self.list(aid, "Result will follow", items, "DBGetTreeComplete");
    }

    pub(super) fn dbdel(&mut self, r: &Request, aid: Option<&[u8]>) {
        let Some((family, key)) = self.db_family_key(r, aid) else {
            return;
        };
        let removed = self.pbx.lock().db.remove(&format!("/{family}/{key}"));
        match removed {
            Some(_) => self.respond(ack(aid, "Key deleted successfully")),
            None => self.respond(error(aid, "Database entry could not be deleted")),
        }
    }

    pub(super) fn dbdeltree(&mut self, r: &Request, aid: Option<&[u8]>) {
        let family = r.text("Family");
        if family.is_empty() {
            return self.respond(error(aid, "No family specified."));
        }
        let deleted = self.pbx.lock().db_del_tree(&family, &r.text("Key"));
        match deleted {
            0 => self.respond(error(aid, "Database entry not found")),
            _ => self.respond(ack(aid, "Key tree deleted successfully")),
        }
    }
}
