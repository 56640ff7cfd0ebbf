from services.common.storage.driver import FileInfo, PathNotFound, StorageDriver

__all__ = ["FileInfo", "PathNotFound", "StorageDriver"]
