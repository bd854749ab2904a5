//! The first hour of an install: the first-run checklist admins see on the overview until the
//! portal is set up (or they dismiss it), and the Admin index that reaches every admin page.
//! The checklist's rules are in [`checklist`], its dismissal in [`service`], the pages in
//! [`pages`]; the facts come from `crate::db::setup`.

pub(crate) mod checklist;
pub(crate) mod pages;
pub(crate) mod service;

#[cfg(test)]
mod tests;

use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};

pub(crate) fn routes() -> Routes {
    let admin = Access::Role(Role::Admin);
    Routes::new().get("/admin", admin, pages::show_admin_index).post(
        "/admin/checklist/dismiss",
        admin,
        pages::dismiss_checklist,
    )
}
