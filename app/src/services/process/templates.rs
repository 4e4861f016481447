//! The workflow templates: the stages and tasks of a first-time image, as the handbook has them.

use crate::domain::Role;

pub(super) struct TaskTemplate {
    pub(super) title: &'static str,
    pub(super) description: &'static str,
    pub(super) required: bool,
}

pub(super) struct StageTemplate {
    pub(super) key: &'static str,
    pub(super) name: &'static str,
    pub(super) team: Role,
    pub(super) depends_on: &'static [&'static str],
    pub(super) tasks: &'static [TaskTemplate],
}

const fn t(title: &'static str, description: &'static str) -> TaskTemplate {
    TaskTemplate {
        title,
        description,
        required: true,
    }
}

/// The first-time image process of the handbook.
pub(super) const FIRST_TIME: [StageTemplate; 3] = [
    StageTemplate {
        key: "introduction",
        name: "Introduction & scope",
        team: Role::Partnerships,
        depends_on: &[],
        tasks: &[
            t(
                "Create the issue for the first-time image",
                "Progress is tracked in a GitLab issue.",
            ),
            t(
                "Gather the documentation on integrating with the cloud partner",
                "Link the partner's integration guides here and in the partnership doc.",
            ),
            t(
                "Understand the joint marketing opportunities for the launch",
                "What the partner can do with us on launch: blogs, social, events.",
            ),
            t(
                "Set up GitLab's account on the partner's system",
                "Credentials go to the GitLab Images vault, never into a task.",
            ),
            TaskTemplate {
                title: "Technical call between Omnibus and the partner's tech or product lead",
                description: "Optional: at the request of the Omnibus team.",
                required: false,
            },
            t(
                "Introduce Partner Marketing to the partner's marketing contacts",
                "So the marketing stage can start as soon as scoping is done.",
            ),
        ],
    },
    StageTemplate {
        key: "technical",
        name: "Technical implementation",
        team: Role::Omnibus,
        depends_on: &["introduction"],
        tasks: &[
            t(
                "Scope the level of effort",
                "How much work the image is, and what it needs.",
            ),
            t(
                "Set the assignee and due date on the issue",
                "Assign this stage's tasks and give them due dates.",
            ),
            t(
                "Upload the image and see it through partner testing",
                "Follow up with the partner's support team if needed. While waiting on them, set \
                 the task to 'waiting on the partner' with the date they must answer by: past \
                 that date it escalates to Partnerships.",
            ),
            t(
                "Write the documentation section, aligned with the launch",
                "The merge request lands with the marketing launch.",
            ),
        ],
    },
    StageTemplate {
        key: "marketing",
        name: "Marketing",
        team: Role::Marketing,
        depends_on: &["introduction"],
        tasks: &[
            t(
                "Create the marketing issue",
                "Tracks the marketing side of the launch.",
            ),
            t(
                "Joint blog posts on GitLab's and the partner's blogs",
                "Aligned with the partner's marketing team.",
            ),
            t(
                "Social network burst",
                "Posts from both companies on launch day.",
            ),
            t(
                "Write the image description for the listing",
                "Written in the listing's copy editor and approved by Partnerships and Omnibus; \
                 ask a technical writer for help if needed.",
            ),
            t(
                "Align the release date with the partner's product lead",
                "The launch date both companies announce.",
            ),
            t(
                "Find a customer story or quote",
                "An existing GitLab customer who would use the image.",
            ),
        ],
    },
];

/// The stage a first-time image's launch waits for.
pub(super) const TECHNICAL_STAGE: &str = "technical";
