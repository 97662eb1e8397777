from shop.errors import ApplicationError, Gone, NotFound, PermissionDenied


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
