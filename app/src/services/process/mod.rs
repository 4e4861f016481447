//! The cloud image process: workflows of stages owned by teams, with tasks.
//!
//! A first-time image follows the handbook: Introduction & scope (Partnerships) first, then
//! Technical implementation (Omnibus) and Marketing (Partner Marketing) in parallel; its
//! launch needs the technical stage done, approved listing copy and a sign-off of each team.
//! A release opens a maintenance run for every product whose image the portal maintains,
//! due three business days after the release. The rules live here, on the server: the pages
//! only show what these functions allow.

mod holidays;
mod intake;
mod launch;
mod maintenance;
mod tasks;
mod templates;
mod views;
mod workflows;

pub use holidays::{add_holiday, delete_holiday, holidays, list_holidays};
pub use intake::{create_release_with_runs, record_release};
pub use launch::{approvals, approve_launch, launches_awaiting, sign_off};
pub use maintenance::{
    CatalystImage, StepTasks, image_built, link_build, maintenance_board, open_catalyst_runs,
    open_maintenance_runs, sweep, train_runs, train_step_done, train_step_started,
};
pub use tasks::{add_task_link, assign_task, comment_on_task, set_task_state};
pub use views::{get, list, task_detail};
pub use workflows::start_first_time;
