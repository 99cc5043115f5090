from .smlpnet import SMLPNet

__all__ = ['SMLPNet']
