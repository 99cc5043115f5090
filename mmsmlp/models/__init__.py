from .backbones import SMLPNet

__all__ = ['SMLPNet']
