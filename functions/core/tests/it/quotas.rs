//! Personalize's quotas, LimitExceededException past them, and adjustable by configuration.

use tailor_core::domain::ArnBuilder;
use tailor_core::recipes::popularity;
use tailor_core::services::quotas::Quotas;
use tailor_core::services::CreateSolution;
use tailor_core::{Stores, Tailor};

fn open(dir: &std::path::Path, quotas: &str) -> Tailor {
    Tailor::new(Stores::embedded(dir).unwrap(), ArnBuilder::default())
        .with_quotas(quotas.parse::<Quotas>().unwrap())
}

#[tokio::test]
async fn five_dataset_groups_by_default_and_room_again_after_a_delete() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), "");
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(
            t.create_dataset_group(&format!("g{i}"), None, None)
                .await
                .unwrap()
                .dataset_group_arn,
        );
    }
    let e = t.create_dataset_group("g5", None, None).await.unwrap_err();
    assert_eq!(e.kind().name(), "LimitExceededException", "{e}");
    assert!(e.to_string().contains("dataset-groups"), "{e}");
    t.delete_dataset_group(&made[0]).await.unwrap();
    t.create_dataset_group("g5", None, None).await.unwrap();

    // The same directory with the quota raised.
    let raised = open(dir.path(), "dataset-groups=7");
    raised.create_dataset_group("g6", None, None).await.unwrap();
    raised.create_dataset_group("g7", None, None).await.unwrap();
    let e = raised
        .create_dataset_group("g8", None, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind().name(), "LimitExceededException", "{e}");
}

#[tokio::test]
async fn solutions_per_group_are_counted_per_group() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), "solutions-per-group=2");
    let groups: Vec<String> = {
        let mut v = Vec::new();
        for g in ["a", "b"] {
            v.push(
                t.create_dataset_group(g, None, None)
                    .await
                    .unwrap()
                    .dataset_group_arn,
            );
        }
        v
    };
    let solution = |name: &str, group: &str| CreateSolution {
        name: name.into(),
        dataset_group_arn: group.into(),
        recipe_arn: popularity::POPULARITY_COUNT.arn(),
        ..Default::default()
    };
    t.create_solution(solution("a1", &groups[0])).await.unwrap();
    let a2 = t.create_solution(solution("a2", &groups[0])).await.unwrap();
    let e = t
        .create_solution(solution("a3", &groups[0]))
        .await
        .unwrap_err();
    assert_eq!(e.kind().name(), "LimitExceededException", "{e}");
    // The other group has its own room.
    t.create_solution(solution("b1", &groups[1])).await.unwrap();
    t.delete_solution(&a2.solution_arn).await.unwrap();
    t.create_solution(solution("a3", &groups[0])).await.unwrap();
}
