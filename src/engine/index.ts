import { installFlowRunner } from "../core/flow.ts";
import { runFlow } from "./flow-runner.ts";

// Importing the engine makes `flow.run()` work (core never imports the engine).
installFlowRunner(runFlow);

export { createFlowRunner, type FlowRunner, runFlow } from "./flow-runner.ts";
