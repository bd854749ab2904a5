//! Who the caller of a guarded route is. It lives below both `auth` (which finds the caller)
//! and `web` (whose layout shows them), so neither has to import the other.

use twisterlab_domain::role::Role;
use uuid::Uuid;

use crate::db::audit::Actor;
use crate::db::users::User;

/// How the caller proved who they are.
#[derive(Clone, Debug)]
pub enum Via {
    Session { id: Uuid, csrf_token: String },
    Token { name: String },
}

/// The signed-in caller of a guarded route.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub user: User,
    /// The role that applies: the user's, or the lower of user and token for API tokens.
    pub role: Role,
    pub via: Via,
    /// For audit rows written on this user's behalf.
    pub actor: Actor,
}

impl CurrentUser {
    pub fn session_id(&self) -> Option<Uuid> {
        match &self.via {
            Via::Session { id, .. } => Some(*id),
            Via::Token { .. } => None,
        }
    }

    pub fn csrf_token(&self) -> &str {
        match &self.via {
            Via::Session { csrf_token, .. } => csrf_token,
            Via::Token { .. } => "",
        }
    }
}
