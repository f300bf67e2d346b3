"""The shared kernel: what every app may import (service errors, problem responses, the driver
loader, logging, test helpers). It imports no app; apps import it and each other downwards only."""
