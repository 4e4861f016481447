//! sea-orm entities, one module per table. Enumerated columns are typed as their `domain`
//! closed set (a sea-orm value type stored as its string form), so a loaded row holds the
//! value itself and a row with anything else fails to load. Free text (job kinds, audit
//! actions) and lists or JSON kept in one column stay `String`.

mod account;
mod blockers;
mod catalogue;
mod people;
mod process;
mod queue;
mod trains;

pub use account::*;
pub use blockers::*;
pub use catalogue::*;
pub use people::*;
pub use process::*;
pub use queue::*;
pub use trains::*;
