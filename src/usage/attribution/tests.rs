use super::*;

#[test]
fn lanes_map_to_roles() {
    assert_eq!(role_for_lane(Lane::InProgress), Role::Implementer);
    assert_eq!(role_for_lane(Lane::ForReview), Role::Reviewer);
    assert_eq!(role_for_lane(Lane::InReview), Role::Reviewer);
    assert_eq!(role_for_lane(Lane::Done), Role::Merger);
}
