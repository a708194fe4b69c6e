"""One class per stage; `bot` assembles them into the pipeline list."""

from engine.stages.decide import Decide
from engine.stages.generate import Generate
from engine.stages.recall import Recall, Remember
from engine.stages.retrieve import Retrieve
from engine.stages.understand import Understand
from engine.stages.weigh import Weigh

__all__ = ["Decide", "Generate", "Recall", "Remember", "Retrieve", "Understand", "Weigh"]
