//! What crosses the wire: the shapes the pages, server functions and REST API exchange.
//! Inputs speak JSON types: numbers are numbers, flags booleans, lists arrays; the
//! services check them (and parse the text fields into domain types) and answer with field
//! errors. Where a page's form sends another shape (a number as typed, a list one per line)
//! it has a `…Form` of its own that converts into the input, with field errors.
//!
//! One file per domain; everything is re-exported here, so `dto::X` names every shape.

mod account;
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
mod rebuilds;
mod releases;
mod retention;
mod tokens;
mod trains;
mod users;
mod workflows;

pub use account::*;
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
pub use rebuilds::*;
pub use releases::*;
pub use retention::*;
pub use tokens::*;
pub use trains::*;
pub use users::*;
pub use workflows::*;
