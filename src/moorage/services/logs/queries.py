"""placeholder"""
class Queries:
    def __init__(self, groups, streams):
        pass
