// The smallest static Swift program: the floor every static Swift binary starts from
// (bench/suites/agent_binary.py builds it as the agent is linked and measures it beside the agent).
import Glibc

print("ready")
fflush(stdout)
pause()
