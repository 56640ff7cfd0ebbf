"""Where things live inside a storage driver.

blobs/<algorithm>/<first two hex>/<hex>/data    every blob once, by digest, shared by repositories
uploads/<uuid>/data                              an upload in progress
"""

from __future__ import annotations

from services.common.oci.digest import Digest


def blob_dir(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"


def blob_path(digest: Digest) -> str:
    return f"{blob_dir(digest)}/data"


def upload_dir(upload_id: str) -> str:
    return f"uploads/{upload_id}"


def upload_path(upload_id: str) -> str:
    return f"uploads/{upload_id}/data"
