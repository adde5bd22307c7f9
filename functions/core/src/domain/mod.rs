//! Resource records, ARNs and the status machine, with Personalize's JSON field names.

mod arn;
mod records;
mod status;

pub use arn::{arn_path, check_arn, validate_name, ArnBuilder, ResourceType, MAX_ARN_CHARS};
pub use records::*;
pub use status::Status;

/// Seconds since the Unix epoch, as Personalize's JSON protocol carries timestamps.
pub fn now_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
