"""The distribution spec's error codes, one class per failure a client can see."""

from __future__ import annotations

from services.common.config.keys import READ_ONLY_MESSAGE
from services.common.errors import BerthError


class BlobUnknown(BerthError):
    code, status, default_message = "BLOB_UNKNOWN", 404, "blob unknown to registry"


class BlobUploadInvalid(BerthError):
    code, status, default_message = "BLOB_UPLOAD_INVALID", 400, "blob upload invalid"


class RangeInvalid(BerthError):
    """An out-of-order or malformed chunk: 416, with the upload's current Range so the client can resume."""

    code, status, default_message = "BLOB_UPLOAD_INVALID", 416, "requested range not satisfiable"


class BlobUploadUnknown(BerthError):
    code, status, default_message = "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"


class DigestInvalid(BerthError):
    code, status, default_message = "DIGEST_INVALID", 400, "provided digest did not match uploaded content"


class ManifestBlobUnknown(BerthError):
    code, status, default_message = (
        "MANIFEST_BLOB_UNKNOWN",
        400,
        "manifest references a manifest or blob unknown to registry",
    )


class ManifestInvalid(BerthError):
    code, status, default_message = "MANIFEST_INVALID", 400, "manifest invalid"


class ManifestUnknown(BerthError):
    code, status, default_message = "MANIFEST_UNKNOWN", 404, "manifest unknown to registry"


class ManifestReferenced(BerthError):
    code, status, default_message = "DENIED", 409, "manifest is referenced by an index"


class TagImmutable(BerthError):
    """Harbor's immutable middleware (src/server/middleware/immutable): errors.PreconditionCode, which its
    server/error maps to 412; the message is its ErrImmutable text."""

    code, status, default_message = "PRECONDITION", 412, "the tag is configured as immutable"


class NameInvalid(BerthError):
    code, status, default_message = "NAME_INVALID", 400, "invalid repository name"


class NameUnknown(BerthError):
    code, status, default_message = "NAME_UNKNOWN", 404, "repository name not known to registry"


class SizeInvalid(BerthError):
    code, status, default_message = "SIZE_INVALID", 400, "provided length did not match content length"


class ManifestTooLarge(BerthError):
    code, status, default_message = "SIZE_INVALID", 413, "manifest too large"


class TagInvalid(BerthError):
    code, status, default_message = "TAG_INVALID", 400, "invalid tag"


class Unauthorized(BerthError):
    code, status, default_message = "UNAUTHORIZED", 401, "authentication required"


class Denied(BerthError):
    code, status, default_message = "DENIED", 403, "requested access to the resource is denied"


class ReadOnlyMode(BerthError):
    # 405 rather than Harbor's 403: the operation is not allowed now, whoever asks; DENIED, so docker
    # prints the message ("denied: The system is in read only mode. ...").
    code, status, default_message = "DENIED", 405, READ_ONLY_MESSAGE


class Unsupported(BerthError):
    code, status, default_message = "UNSUPPORTED", 405, "the operation is unsupported"


class NotFound(BerthError):
    code, status, default_message = "NOT_FOUND", 404, "no such endpoint in the distribution API"


class PaginationInvalid(BerthError):
    code, status, default_message = "PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested"


class UpstreamFailed(BerthError):
    """A proxy-cache project's upstream could not give what a pull asked for (it cannot be reached, it
    answered an error, or its bytes do not match their digest): nothing was stored, and the next pull asks
    it again. Distribution's UNAVAILABLE."""

    code, status, default_message = "UNAVAILABLE", 503, "the proxy cache's upstream registry failed"
