//! Paging: one page of a list, and the page a list request asks for.

use serde::{Deserialize, Serialize};

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
    /// 1-based page number (default 1).
    pub page: Option<u64>,
    /// Items per page, 1–100 (default 25).
    pub per_page: Option<u64>,
}

impl PageRequest {
    pub const MAX_PER_PAGE: u64 = 100;

    /// The page as (0-based index, size), clamped to sane bounds.
    pub fn normalized(self) -> (u64, u64) {
        let per_page = self.per_page.unwrap_or(25).clamp(1, Self::MAX_PER_PAGE);
        (self.page.unwrap_or(1).max(1) - 1, per_page)
    }
}
