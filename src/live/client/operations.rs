//! The [`AdminApi`] operations over HTTP: which request each one sends, which answers count as
//! success, and the strict reading of the answer into model types.

use reqwest::Method;

use super::attempt::Reply;
use super::transport::{HttpAdminApi, as_strs};
use crate::live::redact::sanitise;
use crate::live::retry::Resend;
use crate::live::wire::{
    self, CreateBody, CreatedWire, KeyWire, ListWire, ProjectWire, UpdateBody,
};
use crate::live::{AdminApi, ApiError};
use crate::model::{CreatedKey, KeyId, KeyUpdate, LiveKey, NewKey, Project, ProjectId};

fn json_body<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::Config(format!("encode the request: {e}")))
}

/// A 5xx, whether the API's document or a proxy's page.
fn is_server_error(err: &ApiError) -> bool {
    err.status().is_some_and(|status| status >= 500)
}

impl HttpAdminApi {
    /// Sends one DELETE of a key; 404 and every success status are answers.
    async fn send_delete(&self, id: &KeyId, resend: Resend) -> Result<Reply, ApiError> {
        self.send(
            Method::DELETE,
            &["admin", "api-keys", id.as_str()],
            None,
            resend,
            &[200, 202, 204, 404],
        )
        .await
    }

    /// Whether the API says the key does not exist (its own 404 document: a proxy's 404 page
    /// or any other failure proves nothing).
    async fn is_gone(&self, id: &KeyId) -> bool {
        matches!(
            self.describe_key(id).await,
            Err(ApiError::Api { status: 404, .. })
        )
    }

    /// Converts a list of wire items, failing on the first bad one.
    fn convert<W, M>(
        &self,
        items: Vec<W>,
        into: impl Fn(W) -> Result<M, String>,
        status: u16,
    ) -> Result<Vec<M>, ApiError> {
        items
            .into_iter()
            .map(into)
            .collect::<Result<_, _>>()
            .map_err(self.unreadable(status))
    }

    /// Refuses a listing that announces another page: read as the whole, it would lack keys
    /// (planned as creations) or projects.
    fn whole_listing<T>(
        &self,
        list: &ListWire<T>,
        what: &str,
        status: u16,
    ) -> Result<(), ApiError> {
        match list.next_page() {
            Some(field) => Err(self.unreadable(status)(format!(
                "the {what} announces another page ({field}), but the Admin API documents no \
                 pagination to follow: keyplan refuses to read one page as the whole listing"
            ))),
            None => Ok(()),
        }
    }

    /// The error for an answer whose JSON parsed but holds a value keyplan cannot use. The
    /// detail may quote a value from the answer (an unknown role, an id), so it is scrubbed of
    /// credentials like every other text from a server.
    fn unreadable(&self, status: u16) -> impl Fn(String) -> ApiError + '_ {
        move |detail| {
            self.inner.scrub(ApiError::Transport {
                status: Some(status),
                detail,
            })
        }
    }
}

impl AdminApi for HttpAdminApi {
    async fn list_projects(&self) -> Result<Vec<Project>, ApiError> {
        let reply = self.get(&["admin", "projects"]).await?;
        let list: ListWire<ProjectWire> = self.inner.decode(&reply, "a project list")?;
        self.whole_listing(&list, "project list", reply.status)?;
        self.convert(list.data, ProjectWire::into_model, reply.status)
    }

    async fn describe_project(&self, id: &ProjectId) -> Result<Project, ApiError> {
        let reply = self.get(&["admin", "projects", id.as_str()]).await?;
        let project: ProjectWire = self.inner.decode(&reply, "a project")?;
        project.into_model().map_err(self.unreadable(reply.status))
    }

    async fn list_keys(&self, project: &ProjectId) -> Result<Vec<LiveKey>, ApiError> {
        // Only a well-formed 200 is a listing: an empty or malformed answer read as "no keys"
        // would plan mass creation or deletion.
        let reply = self
            .get(&["admin", "projects", project.as_str(), "api-keys"])
            .await?;
        let list: ListWire<KeyWire> = self.inner.decode(&reply, "a key list")?;
        self.whole_listing(&list, "key list", reply.status)?;
        let keys = self.convert(list.data, KeyWire::into_model, reply.status)?;
        if let Some(stray) = keys.iter().find(|k| k.project_id != *project) {
            return Err(self.unreadable(reply.status)(format!(
                "the key list of project {project} holds key {} of project {}",
                sanitise(stray.id.as_str(), &[]),
                sanitise(stray.project_id.as_str(), &[])
            )));
        }
        Ok(keys)
    }

    async fn create_key(&self, project: &ProjectId, key: &NewKey) -> Result<CreatedKey, ApiError> {
        let body = json_body(&CreateBody::new(key))?;
        let reply = self
            .send(
                Method::POST,
                &["admin", "projects", project.as_str(), "api-keys"],
                Some(body),
                Resend::Never,
                &[200, 201],
            )
            .await?;
        // The key exists from here on: an answer that cannot be read loses its secret, so it is
        // "outcome unknown" for the caller to reconcile, and nothing of the body is quoted.
        let unknown = |why: String| ApiError::OutcomeUnknown {
            detail: format!("HTTP {} but {why}", reply.status),
        };
        let created: CreatedWire = wire::decode(
            reply.status,
            &reply.headers,
            &reply.body,
            "a created key",
            false,
            &[],
        )
        .map_err(|e| unknown(format!("the answer could not be read: {e}")))?;
        created.into_model(project).map_err(unknown)
    }

    async fn describe_key(&self, id: &KeyId) -> Result<LiveKey, ApiError> {
        let reply = self.get(&["admin", "api-keys", id.as_str()]).await?;
        let key: KeyWire = self.inner.decode(&reply, "a key")?;
        key.into_model().map_err(self.unreadable(reply.status))
    }

    async fn update_key(&self, id: &KeyId, update: &KeyUpdate) -> Result<LiveKey, ApiError> {
        let body = json_body(&UpdateBody::new(update))?;
        // A PATCH sets absolute values: sending it twice has the effect of sending it once.
        let reply = self
            .send(
                Method::PATCH,
                &["admin", "api-keys", id.as_str()],
                Some(body),
                Resend::Safe,
                &[200],
            )
            .await?;
        let key: KeyWire = self.inner.decode(&reply, "the updated key")?;
        key.into_model().map_err(self.unreadable(reply.status))
    }

    async fn delete_key(&self, id: &KeyId) -> Result<bool, ApiError> {
        // Production answers 500 to deleting a key that is already gone, and a 5xx may also
        // follow a delete that took effect: after a 5xx, ask whether the key is still there
        // before resending (with the usual retries) or reporting a failure.
        let reply = match self.send_delete(id, Resend::Checked).await {
            Err(err) if is_server_error(&err) => {
                if self.is_gone(id).await {
                    return Ok(false);
                }
                match self.send_delete(id, Resend::Safe).await {
                    Err(err) if is_server_error(&err) => {
                        return if self.is_gone(id).await {
                            Ok(false)
                        } else {
                            Err(err)
                        };
                    }
                    other => other?,
                }
            }
            other => other?,
        };
        if reply.status != 404 {
            return Ok(true);
        }
        // "Already gone" only on the API's own 404 document: a proxy's or a wrong host's 404
        // page must not read as a successful delete.
        let redact = self.inner.redact();
        match wire::error_from_body(404, &reply.headers, &reply.body, true, &as_strs(&redact)) {
            ApiError::Api { .. } => Ok(false),
            err => Err(err),
        }
    }
}
