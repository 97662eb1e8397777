from shop.errors import ApplicationError, Conflict, Gone, NotFound, PermissionDenied


class StoreNotFound(NotFound):
    default_message = "No such store."


class ShareLinkNotFound(NotFound):
    code = "share_link_not_found"
    default_message = "This share link does not exist."


class ShareLinkRevoked(Gone):
    code = "share_link_revoked"
    default_message = "This share link has been withdrawn."


class StoreFrozen(Gone):
    code = "store_frozen"
    default_message = "This store has been frozen by the platform."


class NotStoreOwner(PermissionDenied):
    code = "not_store_owner"
    default_message = "Only the store's owner may see this."


class NotStoreMember(PermissionDenied):
    code = "not_store_member"
    default_message = "Join this store through a share link before buying through it."


class ClearGroupIdNotAllowed(ApplicationError):
    code = "clear_group_id_not_allowed"
    http_status = 400
    default_message = "Chat groups are identified by WeChat's encrypted share-ticket data only."


class StoreNotVenue(Conflict):
    code = "store_not_venue"
    default_message = "This store is not a sale venue: its owner is not a certified leader."


class NotALeader(PermissionDenied):
    code = "not_a_certified_leader"
    default_message = "Only the store's owner, as a certified leader, may curate its sale venue."


class InvitationCodeInvalid(ApplicationError):
    code = "invitation_code_invalid"
    http_status = 400
    default_message = "This invitation code is not valid."


class InvitationCodeExpired(Gone):
    code = "invitation_code_expired"
    default_message = "This invitation code has expired."


class InvitationCodeUsedUp(Conflict):
    code = "invitation_code_used_up"
    default_message = "This invitation code has been used as many times as it allows."


class LeaderNotReviewable(Conflict):
    code = "leader_not_reviewable"
    default_message = "This leader application cannot be changed that way in its current state."


class NotInVenueSelection(Conflict):
    """A sale venue sells only what its leader selected."""

    code = "not_in_venue_selection"
    default_message = "This store is a leader's sale venue and sells only the products the leader selected."


class PickupPointNotFound(NotFound):
    code = "pickup_point_not_found"
    default_message = "You do not run a pickup point."


class PickupPointUnavailable(Conflict):
    code = "pickup_point_unavailable"
    default_message = "This pickup point takes no new orders."
