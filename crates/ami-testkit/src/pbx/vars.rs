//! Variables (channel, global, a few dialplan functions) and AstDB.

use crate::pbx::{Chan, ChanId, PbxState};
use crate::perm::Classes;

impl PbxState {
    /// `${...}` substitution of channel variables, globals and a few
    /// functions, as the dialplan does before running an application.
    pub(crate) fn substitute(&self, chan: ChanId, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            out.push_str(&self.read_var(Some(chan), &after[..end]));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A variable or function as `GetVar` and `${...}` read it: `""` when unset.
    pub(crate) fn read_var(&self, chan: Option<ChanId>, name: &str) -> String {
        let c = chan.and_then(|id| self.chans.get(&id));
        if let Some(arg) = name.strip_suffix(')').and_then(|n| n.split_once('(')) {
            return self.read_function(c, arg.0, arg.1);
        }
        if let Some(c) = c {
            let builtin = match name {
                "CHANNEL" => Some(c.name.clone()),
                "EXTEN" => Some(c.exten.clone()),
                "CONTEXT" => Some(c.context.clone()),
                "PRIORITY" => Some(c.priority.to_string()),
                "UNIQUEID" => Some(c.uniqueid.clone()),
                _ => None,
            };
            if let Some(v) = builtin {
                return v;
            }
            let plain = name.trim_start_matches('_');
            if let Some(v) = c
                .vars
                .iter()
                .find(|(k, _)| k.trim_start_matches('_') == plain)
                .map(|(_, v)| v)
            {
                return v.clone();
            }
        }
        self.globals.get(name).cloned().unwrap_or_default()
    }

    fn read_function(&self, c: Option<&Chan>, func: &str, arg: &str) -> String {
        match (func, c) {
            ("CHANNEL", Some(c)) if arg == "state" => c.state.desc().to_string(),
            ("CHANNEL", Some(c)) if arg == "name" => c.name.clone(),
            ("CHANNEL", Some(c)) if arg == "linkedid" => c.linkedid.clone(),
            ("CALLERID", Some(c)) if arg == "all" => c.callerid_all(),
            ("CALLERID", Some(c)) if arg == "num" => c.caller.0.clone().unwrap_or_default(),
            ("CALLERID", Some(c)) if arg == "name" => c.caller.1.clone().unwrap_or_default(),
            ("DEVICE_STATE", _) => self.device_state(arg).to_string(),
            ("DB", _) => {
                let key = format!("/{arg}");
                self.db.get(&key).cloned().unwrap_or_default()
            }
            ("GLOBAL", _) => self.globals.get(arg).cloned().unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// Sets a variable (on `chan`, or a global) or writes a function;
    /// publishes `VarSet` for variables (not for functions, as Asterisk).
    pub(crate) fn write_var(&mut self, chan: Option<ChanId>, name: &str, value: &str) {
        if let Some((func, arg)) = name.strip_suffix(')').and_then(|n| n.split_once('(')) {
            match func {
                "DEVICE_STATE" => self.set_device(arg, value),
                "DB" => {
                    self.db.insert(format!("/{arg}"), value.to_string());
                }
                "GLOBAL" => {
                    self.globals.insert(arg.to_string(), value.to_string());
                }
                _ => {}
            }
            return;
        }
        match chan {
            Some(id) => {
                let Some(c) = self.chans.get_mut(&id) else {
                    return;
                };
                c.vars.insert(name.to_string(), value.to_string());
                self.chan_event(Classes::DIALPLAN, "VarSet", id, |w| {
                    w.h("Variable", name).h("Value", value)
                });
            }
            None => {
                self.globals.insert(name.to_string(), value.to_string());
                self.emit(Classes::DIALPLAN, "VarSet", |w| {
                    w.h("Channel", "none")
                        .h("Uniqueid", "none")
                        .h("Variable", name)
                        .h("Value", value)
                });
            }
        }
    }

    /// The entries under `/family[/key]` (all of them for an empty family),
    /// sorted by key, as `DBGetTree` lists them.
    pub(crate) fn db_tree(&self, family: &str, key: &str) -> Vec<(String, String)> {
        let prefix = match (family.is_empty(), key.is_empty()) {
            (true, _) => String::new(),
            (false, true) => format!("/{family}"),
            (false, false) => format!("/{family}/{key}"),
        };
        self.db
            .iter()
            .filter(|(k, _)| {
                prefix.is_empty()
                    || k.as_str() == prefix
                    || (k.starts_with(&prefix) && k.as_bytes().get(prefix.len()) == Some(&b'/'))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Deletes the entries under `/family[/key]`; how many went.
    pub(crate) fn db_del_tree(&mut self, family: &str, key: &str) -> usize {
        let doomed: Vec<String> = self
            .db_tree(family, key)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        for k in &doomed {
            self.db.remove(k);
        }
        doomed.len()
    }
}
