//! `rename`: a container's name, checked and taken under the map lock as `create` takes one.

use super::{Engine, EngineError, Result};

impl Engine {
    #[tracing::instrument(name = "rename", skip(self), fields(container = %key))]
    pub async fn rename(&self, key: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.trim_start_matches('/');
        if new_name.is_empty() || key.trim_start_matches('/').is_empty() {
            return Err(EngineError::BadRequest(
                "Neither old nor new names may be empty".into(),
            ));
        }
        if !super::create::valid_name(new_name) {
            return Err(EngineError::BadRequest(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let id = self.container(key).await?.id;
        let op = self.op_lock(&id);
        let _op = op.lock().await;
        // A running container's names in user-defined networks' DNS were registered at its
        // start; berth cannot re-register them live, so it refuses rather than leave a stale
        // name answering.
        let current = self.container(&id).await?;
        if let Some(sb) = &current.sandbox_id {
            for ep in self.ctl.sandbox_endpoints(sb).await {
                if let Ok(net) = self.ctl.get(&ep.network_id).await {
                    if !net.predefined {
                        return Err(EngineError::Conflict(format!(
                            "cannot rename running container {} on user-defined network {}: berth cannot move its DNS name while it runs; stop it first",
                            current.name, net.name
                        )));
                    }
                }
            }
        }
        let mut st = self.state.lock().await;
        let mut c = Self::lookup(&st, &id)?.clone();
        if c.name == new_name {
            return Err(EngineError::BadRequest(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if let Some(other) = st.containers.values().find(|o| o.name == new_name) {
            return Err(EngineError::Conflict(format!(
                "Conflict. The container name \"/{new_name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        // Legacy links name their target: renaming it would break the linking container.
        if let Some(linker) = st
            .containers
            .values()
            .find(|o| o.spec.links.iter().any(|(t, _)| t == &c.name || t == &c.id))
        {
            return Err(EngineError::Conflict(format!(
                "cannot rename container {}: container {} links to it by name (--link)",
                c.name, linker.name
            )));
        }
        let old = std::mem::replace(&mut c.name, new_name.to_string());
        c.spec.name = c.name.clone();
        self.save(&mut st, c.clone()).await?;
        let mut attrs = Self::container_attrs(&c);
        attrs.insert("oldName".into(), format!("/{old}"));
        self.events.emit("container", "rename", &c.id, attrs);
        Ok(())
    }
}
