"""(filled by the op family slice)"""
__all__: list[str] = []
