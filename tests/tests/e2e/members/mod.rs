//! Project membership (issue 25): who may see a project, and the project
//! each audit entry is about.

mod manage;
mod visibility;
