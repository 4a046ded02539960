//! Project membership (issue 25): who may see a project, the project
//! each audit entry is about, and the routes that keep hidden projects
//! hidden.

pub(crate) mod access;
mod manage;
mod visibility;
