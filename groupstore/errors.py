from shop.errors import ApplicationError, Conflict, Gone, NotFound, PermissionDenied, ServiceUnavailable


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


class ShareSceneNotFound(NotFound):
    code = "share_scene_not_found"
    default_message = "This mini-program code does not open any share link."


class MiniProgramCodeUnavailable(ServiceUnavailable):
    """WeChat would not give the poster's mini-program code now (its errcode is logged)."""

    code = "mini_program_code_unavailable"
    default_message = "The mini-program code could not be made just now; try the poster again shortly."
    retry_after_s = 60

    def __init__(self, message: str | None = None, *, wechat_code: str | None = None, **context):
        super().__init__(message, wechat_code=wechat_code, **context)
        self.wechat_code = wechat_code


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
