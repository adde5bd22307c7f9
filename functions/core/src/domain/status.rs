use serde::{Deserialize, Serialize};

/// Personalize's common status machine. The strings contain spaces, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    #[serde(rename = "CREATE PENDING")]
    CreatePending,
    #[serde(rename = "CREATE IN_PROGRESS")]
    CreateInProgress,
    #[serde(rename = "ACTIVE")]
    Active,
    #[serde(rename = "CREATE FAILED")]
    CreateFailed,
    #[serde(rename = "CREATE STOPPING")]
    CreateStopping,
    #[serde(rename = "CREATE STOPPED")]
    CreateStopped,
    #[serde(rename = "DELETE PENDING")]
    DeletePending,
    #[serde(rename = "DELETE IN_PROGRESS")]
    DeleteInProgress,
}

impl Status {
    /// Whether a resource may move from `self` to `next`.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (CreatePending, CreateInProgress)
                | (CreatePending, CreateFailed)
                | (CreatePending, CreateStopping)
                | (CreateInProgress, Active)
                | (CreateInProgress, CreateFailed)
                | (CreateInProgress, CreateStopping)
                | (CreateStopping, CreateStopped)
                | (Active, DeletePending)
                | (CreateFailed, DeletePending)
                | (CreateStopped, DeletePending)
                | (DeletePending, DeleteInProgress)
        )
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Active | Status::CreateFailed | Status::CreateStopped
        )
    }

    pub fn as_str(self) -> &'static str {
        use Status::*;
        match self {
            CreatePending => "CREATE PENDING",
            CreateInProgress => "CREATE IN_PROGRESS",
            Active => "ACTIVE",
            CreateFailed => "CREATE FAILED",
            CreateStopping => "CREATE STOPPING",
            CreateStopped => "CREATE STOPPED",
            DeletePending => "DELETE PENDING",
            DeleteInProgress => "DELETE IN_PROGRESS",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Batch inference and batch segment jobs spell their states Personalize's way for those
/// resources: `PENDING → IN PROGRESS → ACTIVE | CREATE FAILED` (botocore's model and the
/// reference, §2.11). The other states keep the common spelling; both spellings read back, so
/// records written before this still load.
pub mod batch_wire {
    use super::Status;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn as_str(s: Status) -> &'static str {
        match s {
            Status::CreatePending => "PENDING",
            Status::CreateInProgress => "IN PROGRESS",
            other => other.as_str(),
        }
    }

    pub fn serialize<S: Serializer>(s: &Status, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(as_str(*s))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Status, D::Error> {
        let text = String::deserialize(de)?;
        match text.as_str() {
            "PENDING" => Ok(Status::CreatePending),
            "IN PROGRESS" => Ok(Status::CreateInProgress),
            other => Status::deserialize(serde::de::value::StrDeserializer::<D::Error>::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;

    #[test]
    fn batch_jobs_spell_pending_and_in_progress_their_own_way() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Job {
            #[serde(with = "super::batch_wire")]
            status: super::Status,
        }
        for (status, wire) in [
            (CreatePending, "PENDING"),
            (CreateInProgress, "IN PROGRESS"),
            (Active, "ACTIVE"),
            (CreateFailed, "CREATE FAILED"),
        ] {
            let text = serde_json::to_string(&Job { status }).unwrap();
            assert_eq!(text, format!("{{\"status\":\"{wire}\"}}"));
            assert_eq!(serde_json::from_str::<Job>(&text).unwrap().status, status);
        }
        // Records written with the common spelling still read.
        let old: Job = serde_json::from_str(r#"{"status":"CREATE IN_PROGRESS"}"#).unwrap();
        assert_eq!(old.status, CreateInProgress);
        assert!(serde_json::from_str::<Job>(r#"{"status":"SOMETIMES"}"#).is_err());
    }

    #[test]
    fn create_path_and_failures() {
        assert!(CreatePending.can_become(CreateInProgress));
        assert!(CreateInProgress.can_become(Active));
        assert!(CreateInProgress.can_become(CreateFailed));
        assert!(!Active.can_become(CreateInProgress));
        assert!(!CreateFailed.can_become(Active));
        assert!(!CreatePending.can_become(Active));
    }

    #[test]
    fn wire_strings_have_spaces() {
        assert_eq!(
            serde_json::to_string(&CreateInProgress).unwrap(),
            "\"CREATE IN_PROGRESS\""
        );
        let s: super::Status = serde_json::from_str("\"CREATE FAILED\"").unwrap();
        assert_eq!(s, CreateFailed);
    }
}
