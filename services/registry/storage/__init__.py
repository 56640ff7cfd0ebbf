from services.registry.storage.driver import FileInfo, PathNotFound, StorageDriver

__all__ = ["FileInfo", "PathNotFound", "StorageDriver"]
