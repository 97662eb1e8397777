"""Group-store services (writes). Split by subdomain; everything is importable from here.

- ``stores``: creation, chat-group binding, share links, joining, freezing
- ``aggregates``: the running figures orders and rebates push
- ``rewards``: the share reward
- ``leaders``: invitation codes, leaders, sale venues and their order notices
- ``posters``: share posters and the scenes of their mini-program codes
- ``pickup_points``: leaders' pickup points
"""

from .aggregates import (
    member_stats_record_rebate,
    member_stats_record_rebates,
    store_stats_record_commission,
    store_stats_record_commissions,
    store_stats_record_payment,
    store_stats_record_refund,
)
from .leaders import (
    invitation_code_normalize,
    invitation_codes_generate,
    leader_certify,
    leader_register,
    leader_reject,
    venue_order_notify,
    venue_selection_set,
)
from .pickup_points import pickup_point_close, pickup_point_for_checkout, pickup_point_put
from .posters import SceneTarget, share_link_scene, share_poster, share_scene_resolve
from .rewards import (
    share_reward_consider,
    share_reward_mark_issued,
    share_reward_notify_issued,
    share_reward_qualifying_member_id,
)
from .stores import (
    SHARE_TOKEN_BYTES,
    StoreCreated,
    chat_group_resolve,
    membership_get_or_create,
    share_link_create,
    share_link_revoke,
    store_bind_group,
    store_create,
    store_freeze,
    store_join,
    store_unfreeze,
)

__all__ = [
    "SHARE_TOKEN_BYTES",
    "SceneTarget",
    "StoreCreated",
    "chat_group_resolve",
    "invitation_code_normalize",
    "invitation_codes_generate",
    "leader_certify",
    "leader_register",
    "leader_reject",
    "member_stats_record_rebate",
    "member_stats_record_rebates",
    "membership_get_or_create",
    "pickup_point_close",
    "pickup_point_for_checkout",
    "pickup_point_put",
    "share_link_create",
    "share_link_revoke",
    "share_link_scene",
    "share_poster",
    "share_reward_consider",
    "share_reward_mark_issued",
    "share_reward_notify_issued",
    "share_reward_qualifying_member_id",
    "share_scene_resolve",
    "store_bind_group",
    "store_create",
    "store_freeze",
    "store_join",
    "store_stats_record_commission",
    "store_stats_record_commissions",
    "store_stats_record_payment",
    "store_stats_record_refund",
    "store_unfreeze",
    "venue_order_notify",
    "venue_selection_set",
]
