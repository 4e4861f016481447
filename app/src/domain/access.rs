//! Who may do what: the permissions, the roles that hold each, and the signed-in person
//! every request and service sees.

use serde::{Deserialize, Serialize};

use super::Role;

/// Declares [`Permission`] with the list of all its values, so a test can hold the table
/// of [`Permission::roles`] to every one of them.
macro_rules! permissions {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            /// Every permission.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
        }
    };
}

permissions!(
    /// What a signed-in person may do. Every service function that changes something, or
    /// reads what not everyone may read, opens with [`CurrentUser::require`] of one of these
    /// (see the policy in [`crate::error`]); the UI uses the same answer only to hide what
    /// would be refused.
    Permission {
        /// Create and edit partners, their accounts and contacts, products and listings.
        ManageCatalogue,
        /// Record releases and image versions.
        ManageReleases,
        /// Upload and replace marketing assets.
        ManageAssets,
        /// Read the audit log.
        ReadAudit,
        /// Start builds, and cancel or retry jobs.
        RunJobs,
        /// Rebuild an image that exists (a security fix, a new base image): a new image
        /// replaces it as the current one.
        RebuildImages,
        /// Say whether a release builds a product's images by itself (Omnibus).
        SetBuildPolicy,
        /// Say whether a release publishes a listing's version by itself (Partnerships).
        SetPublishPolicy,
        /// Approve or reject a proposed rebuild on a new base image (Omnibus).
        DecideRebuilds,
        /// Read the account as it is now (images, quotas, versions) on demand.
        SyncCloud,
        /// Resolve what differs between the catalogue and the account: adopt, forget, or
        /// propose retirement.
        ResolveDrift,
        /// Write listing copy and ask for its approval.
        EditCopy,
        /// Approve or reject listing copy (each revision only by the team whose turn it is).
        ReviewCopy,
        /// Mark approved listing copy as the revision to publish.
        MarkCopyForPublishing,
        /// Decide proposals: restricting old marketplace versions, retiring old public images.
        DecideProposals,
        /// Open first-time image projects and approve launches.
        ManageWorkflows,
        /// Work on tasks, comment and sign off (each limited further to the task's team).
        WorkOnTasks,
        /// Work on any team's tasks, whatever the task's team.
        WorkOnAnyTask,
        /// See and revoke everyone's API tokens, not only one's own.
        ManageAllTokens,
        /// Configure outbound webhooks, holidays and the marketplace access role.
        Administer,
    }
);

impl Permission {
    /// The roles that hold this permission: the one place that says which role may do what.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Permission::ManageCatalogue => &[Role::Partnerships, Role::Omnibus, Role::Admin],
            Permission::ManageReleases => &[Role::Omnibus, Role::Admin],
            Permission::ManageAssets => &[Role::Marketing, Role::Admin],
            Permission::ReadAudit => &[
                Role::Partnerships,
                Role::Omnibus,
                Role::Marketing,
                Role::Admin,
            ],
            Permission::RunJobs => &[Role::Omnibus, Role::Admin],
            Permission::RebuildImages => &[Role::Omnibus, Role::Admin],
            Permission::SetBuildPolicy => &[Role::Omnibus, Role::Admin],
            Permission::SetPublishPolicy => &[Role::Partnerships, Role::Admin],
            Permission::DecideRebuilds => &[Role::Omnibus],
            Permission::SyncCloud => &[Role::Omnibus, Role::Admin],
            Permission::ResolveDrift => &[Role::Omnibus, Role::Partnerships, Role::Admin],
            Permission::EditCopy => &[Role::Marketing, Role::Admin],
            Permission::ReviewCopy => &[Role::Partnerships, Role::Omnibus, Role::Admin],
            Permission::MarkCopyForPublishing => {
                &[Role::Marketing, Role::Partnerships, Role::Admin]
            }
            Permission::DecideProposals => &[Role::Partnerships],
            Permission::ManageWorkflows => &[Role::Partnerships, Role::Admin],
            Permission::WorkOnTasks => &[
                Role::Partnerships,
                Role::Omnibus,
                Role::Marketing,
                Role::Admin,
            ],
            Permission::WorkOnAnyTask => &[Role::Admin],
            Permission::ManageAllTokens => &[Role::Admin],
            Permission::Administer => &[Role::Admin],
        }
    }
}

/// The signed-in person, as every request sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CurrentUser {
    pub id: i32,
    pub username: String,
    pub name: String,
    pub roles: Vec<Role>,
}

impl CurrentUser {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn can(&self, permission: Permission) -> bool {
        self.roles
            .iter()
            .any(|role| permission.roles().contains(role))
    }

    /// The permission check a service opens with: `actor.require(Permission::X)?;`. A person
    /// without it gets 403, naming the roles that hold it.
    pub fn require(&self, permission: Permission) -> Result<(), crate::error::AppError> {
        if self.can(permission) {
            return Ok(());
        }
        let roles: Vec<&str> = permission.roles().iter().map(|r| r.as_str()).collect();
        Err(crate::error::AppError::forbidden(format!(
            "this needs one of the roles: {}",
            roles.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_follow_the_teams() {
        let marketing = CurrentUser {
            id: 1,
            username: "m".into(),
            name: "M".into(),
            roles: vec![Role::Marketing],
        };
        assert!(marketing.can(Permission::ManageAssets));
        assert!(!marketing.can(Permission::ManageCatalogue));
        let viewer = CurrentUser {
            roles: vec![Role::Viewer],
            ..marketing
        };
        assert!(!viewer.can(Permission::ManageAssets) && !viewer.can(Permission::ReadAudit));
        let refused = viewer
            .require(Permission::ManageAssets)
            .expect_err("a viewer uploads nothing");
        assert_eq!(refused.code, crate::error::ErrorCode::Forbidden);
        assert_eq!(
            refused.message,
            "this needs one of the roles: marketing, admin"
        );
    }

    #[test]
    fn every_permission_is_held_by_a_role_and_a_viewer_changes_nothing() {
        // Reading is the only thing a permission may let a viewer do.
        const READS: [Permission; 1] = [Permission::ReadAudit];
        for &permission in Permission::ALL {
            assert!(
                !permission.roles().is_empty(),
                "{permission:?} is held by no role"
            );
            assert!(
                READS.contains(&permission) || !permission.roles().contains(&Role::Viewer),
                "a viewer holds the write permission {permission:?}"
            );
        }
    }
}
