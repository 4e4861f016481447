//! Paging: one page of a list, and the page a list request asks for. Every list (REST
//! endpoint, server function, page) checks the page it is asked for through
//! [`PageRequest::checked`], so a page number or size out of bounds is a 400 naming the
//! field, never an overflow further down.

use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
use utoipa::{IntoParams, ToSchema};

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    /// 1-based page number.
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

impl<T> Page<T> {
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(self.per_page.max(1)).max(1)
    }
}

/// `?page=&per_page=` of a list request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(IntoParams))]
pub struct PageRequest {
    /// 1-based page number, 1–1000000 (default 1).
    pub page: Option<u64>,
    /// Items per page, 1–100 (default 25).
    pub per_page: Option<u64>,
}

/// A page that passed [`PageRequest::checked`]: its offset and size fit every database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// 0-based page index.
    pub index: u64,
    /// Items per page.
    pub per_page: u64,
}

impl Paging {
    /// The 1-based page number, as a [`Page`] reports it.
    pub fn number(self) -> u64 {
        self.index + 1
    }

    /// How many items come before this page.
    pub fn offset(self) -> u64 {
        self.index * self.per_page
    }
}

impl PageRequest {
    pub const DEFAULT_PER_PAGE: u64 = 25;
    pub const MAX_PER_PAGE: u64 = 100;
    /// No list of the portal comes near this many pages; past it a request is a mistake.
    pub const MAX_PAGE: u64 = 1_000_000;

    /// Page `page` (default 1) of a list shown `per_page` at a time.
    pub fn new(page: Option<u64>, per_page: u64) -> Self {
        PageRequest {
            page,
            per_page: Some(per_page),
        }
    }

    /// The same request, taking `per_page` when it names no size of its own.
    pub fn or_per_page(self, per_page: u64) -> Self {
        PageRequest {
            per_page: self.per_page.or(Some(per_page)),
            ..self
        }
    }

    /// The page asked for, or a 400 naming `page` or `per_page` when it is out of bounds:
    /// page 1 to [`Self::MAX_PAGE`], 1 to [`Self::MAX_PER_PAGE`] per page. The offset of
    /// any page that passes fits a signed 64-bit number, as SQL wants it.
    pub fn checked(self) -> Result<Paging, AppError> {
        let page = self.page.unwrap_or(1);
        if !(1..=Self::MAX_PAGE).contains(&page) {
            return Err(AppError::out_of_bounds(
                "page",
                format!(
                    "{page} is not a page number: pages run from 1 to {}",
                    Self::MAX_PAGE
                ),
            ));
        }
        let per_page = self.per_page.unwrap_or(Self::DEFAULT_PER_PAGE);
        if !(1..=Self::MAX_PER_PAGE).contains(&per_page) {
            return Err(AppError::out_of_bounds(
                "per_page",
                format!(
                    "{per_page} items per page is out of bounds: ask for 1 to {}",
                    Self::MAX_PER_PAGE
                ),
            ));
        }
        let index = page - 1;
        let fits = index
            .checked_mul(per_page)
            .and_then(|offset| offset.checked_add(per_page))
            .is_some_and(|end| i64::try_from(end).is_ok());
        if !fits {
            return Err(AppError::out_of_bounds(
                "page",
                format!("page {page} of {per_page} items is past any list"),
            ));
        }
        Ok(Paging { index, per_page })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use proptest::prelude::*;

    #[test]
    fn the_defaults_are_the_first_page_of_25() {
        let p = PageRequest::default().checked().expect("in bounds");
        assert_eq!(
            p,
            Paging {
                index: 0,
                per_page: 25
            }
        );
        assert_eq!(p.number(), 1);
        let p = PageRequest::new(Some(3), 50).checked().expect("in bounds");
        assert_eq!((p.index, p.offset()), (2, 100));
    }

    #[test]
    fn a_page_out_of_bounds_is_a_400_naming_its_field() {
        for (request, field) in [
            (PageRequest::new(Some(u64::MAX), 25), "page"),
            (PageRequest::new(Some(0), 25), "page"),
            (
                PageRequest::new(Some(PageRequest::MAX_PAGE + 1), 25),
                "page",
            ),
            (PageRequest::new(Some(1), 0), "per_page"),
            (PageRequest::new(Some(1), u64::MAX), "per_page"),
            (PageRequest::new(Some(1), 101), "per_page"),
        ] {
            let err = request.checked().expect_err("out of bounds");
            assert_eq!(err.code, ErrorCode::BadRequest, "{request:?}");
            assert_eq!(err.code.http_status(), 400);
            assert!(err.field(field).is_some(), "{request:?}: {err:?}");
            assert!(err.message.starts_with(field), "{}", err.message);
        }
    }

    proptest! {
        #[test]
        fn any_page_is_either_refused_or_fits_sql(page in any::<Option<u64>>(), per_page in any::<Option<u64>>()) {
            match (PageRequest { page, per_page }).checked() {
                Ok(p) => {
                    prop_assert!(p.per_page >= 1 && p.per_page <= PageRequest::MAX_PER_PAGE);
                    prop_assert!(p.number() <= PageRequest::MAX_PAGE);
                    prop_assert!(i64::try_from(p.offset() + p.per_page).is_ok());
                    prop_assert_eq!(p.number(), page.unwrap_or(1));
                }
                Err(e) => {
                    prop_assert_eq!(e.code, ErrorCode::BadRequest);
                    prop_assert!(e.field("page").is_some() || e.field("per_page").is_some());
                }
            }
        }

        #[test]
        fn pages_in_bounds_are_accepted(page in 1..=PageRequest::MAX_PAGE, per_page in 1..=PageRequest::MAX_PER_PAGE) {
            let p = PageRequest::new(Some(page), per_page).checked();
            prop_assert!(p.is_ok());
        }
    }
}
