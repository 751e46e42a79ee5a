"""Neural CATE estimators in torch: TARNet / CFR (Shalit et al. 2017) and DragonNet (Shi et al. 2019).

Implementation modules are private; import the classes from here."""

from .dragonnet import DragonNet
from .tarnet import TARNet

__all__ = ["TARNet", "DragonNet"]
