//! What crosses the wire: the shapes the pages, server functions and REST API exchange.
//! Inputs are plain strings as a form sends them; the services parse them into domain
//! types and answer with field errors.
//!
//! One file per domain; everything is re-exported here, so `dto::X` names every shape.

mod approvals;
mod assets;
mod audit;
mod catalogue;
mod copy;
mod images;
mod jobs;
mod listings;
mod maintenance;
mod notifications;
mod paging;
mod partners;
mod products;
mod releases;
mod retention;
mod tokens;
mod users;
mod workflows;

pub use approvals::*;
pub use assets::*;
pub use audit::*;
pub use catalogue::*;
pub use copy::*;
pub use images::*;
pub use jobs::*;
pub use listings::*;
pub use maintenance::*;
pub use notifications::*;
pub use paging::*;
pub use partners::*;
pub use products::*;
pub use releases::*;
pub use retention::*;
pub use tokens::*;
pub use users::*;
pub use workflows::*;
