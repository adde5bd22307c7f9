//! The core's error type and its mapping to Personalize's error names.
//!
//! Each layer has its own enum (`SchemaError`, `StoreError`, ...); they convert into [`Error`],
//! whose [`ErrorKind`] is what a door (CLI, local server, Lambda) maps to the wire in one place.

use crate::store::StoreError;

/// Personalize's error names; the doors map these to HTTP codes and `__type` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidInput,
    ResourceNotFound,
    ResourceAlreadyExists,
    ResourceInUse,
    LimitExceeded,
    /// A list's `nextToken` that this service did not issue.
    InvalidNextToken,
    /// More tags on a resource than Personalize allows.
    TooManyTags,
    /// More tag keys in one UntagResource than Personalize allows.
    TooManyTagKeys,
    /// Not the caller's fault; never carries internal detail to clients.
    Internal,
}

impl ErrorKind {
    /// The exception name Personalize uses on the wire.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "InvalidInputException",
            ErrorKind::ResourceNotFound => "ResourceNotFoundException",
            ErrorKind::ResourceAlreadyExists => "ResourceAlreadyExistsException",
            ErrorKind::ResourceInUse => "ResourceInUseException",
            ErrorKind::LimitExceeded => "LimitExceededException",
            ErrorKind::InvalidNextToken => "InvalidNextTokenException",
            ErrorKind::TooManyTags => "TooManyTagsException",
            ErrorKind::TooManyTagKeys => "TooManyTagKeysException",
            ErrorKind::Internal => "InternalServerError",
        }
    }

    /// HTTP status on the REST services (runtime, events).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidInput
            | ErrorKind::ResourceAlreadyExists
            | ErrorKind::LimitExceeded
            | ErrorKind::InvalidNextToken
            | ErrorKind::TooManyTags
            | ErrorKind::TooManyTagKeys => 400,
            ErrorKind::ResourceNotFound => 404,
            ErrorKind::ResourceInUse => 409,
            ErrorKind::Internal => 500,
        }
    }
}

/// The error every core service returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InUse(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    InvalidNextToken(String),
    #[error("{0}")]
    TooManyTags(String),
    #[error("{0}")]
    TooManyTagKeys(String),
    #[error(transparent)]
    Schema(#[from] crate::schema::SchemaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput(_) | Error::Schema(_) => ErrorKind::InvalidInput,
            Error::NotFound(_) => ErrorKind::ResourceNotFound,
            Error::AlreadyExists(_) => ErrorKind::ResourceAlreadyExists,
            Error::InUse(_) => ErrorKind::ResourceInUse,
            Error::LimitExceeded(_) => ErrorKind::LimitExceeded,
            Error::InvalidNextToken(_) => ErrorKind::InvalidNextToken,
            Error::TooManyTags(_) => ErrorKind::TooManyTags,
            Error::TooManyTagKeys(_) => ErrorKind::TooManyTagKeys,
            Error::Store(StoreError::ConditionFailed) => ErrorKind::ResourceInUse,
            Error::Store(_) | Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The message safe to show a client: internal causes are summarised, not echoed.
    pub fn client_message(&self) -> String {
        match self.kind() {
            ErrorKind::Internal if matches!(self, Error::Store(StoreError::Corrupt(_))) => {
                "stored data this request needs is damaged and cannot be served; see the service \
                 logs"
                    .to_string()
            }
            ErrorKind::Internal => "internal error; see the service logs".to_string(),
            _ => self.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
