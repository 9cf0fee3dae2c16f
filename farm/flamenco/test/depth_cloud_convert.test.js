// Tests for the Flamenco job compiler script, with Node's built-in runner only:
//
//     node --test farm/flamenco/test/
//
// The script is loaded the way Flamenco's Manager loads it (a plain script, strict mode, with
// the globals `author` and `print`), into a `vm` context with a small stand-in for Flamenco's
// `author` module that records tasks and commands, and a fake `job` ({settings, addTask}).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const SCRIPT_PATH = path.join(__dirname, "..", "depth_cloud_convert.js");
const SOURCE = fs.readFileSync(SCRIPT_PATH, "utf8");

// Stand-in for Flamenco's `author` module (internal/manager/job_compilers/author.go, 3.9):
// Task(name, type) -> task with addCommand/addDependency; Command(name, parameters,
// totalStepCount). In Go, totalStepCount is an `int` that goja sets to 0 when the call leaves
// it out; this shim is stricter and also rejects values that are not whole numbers >= 0.
function makeAuthor() {
    return {
        Task(name, type) {
            name = String(name).trim();
            type = String(type).trim();
            if (!name) throw new Error("author.Task(name, type): name is required");
            if (!type) throw new Error("author.Task(name, type): type is required");
            return {
                name, type, commands: [], dependencies: [],
                addCommand(cmd) { this.commands.push(cmd); },
                addDependency(task) { this.dependencies.push(task); },
            };
        },
        Command(name, parameters, totalStepCount) {
            if (typeof name !== "string" || name === "") throw new Error("author.Command(name, ...): name is required");
            if (parameters === null || typeof parameters !== "object" || Array.isArray(parameters)) {
                throw new Error("author.Command(name, parameters, ...): parameters must be an object");
            }
            const steps = totalStepCount === undefined ? 0 : totalStepCount;
            if (!Number.isSafeInteger(steps) || steps < 0) {
                throw new Error(`author.Command: totalStepCount must be a whole number >= 0, got ${totalStepCount}`);
            }
            return { name, parameters, totalStepCount: steps, stepCountGiven: totalStepCount !== undefined };
        },
    };
}

// Load the script like the Manager does: no `module`, strict mode. Returns the context; the
// script's top-level declarations are reachable with vm.runInContext(name, context).
function loadAsFlamenco() {
    const logs = [];
    const context = vm.createContext({ author: makeAuthor(), print: (...a) => logs.push(a.join(" ")) });
    vm.runInContext(`"use strict";\n${SOURCE}`, context, { filename: SCRIPT_PATH });
    context.logs = logs;
    return context;
}

// Same, plus a `module` so the script exports its functions for direct tests.
function loadWithExports() {
    const module = { exports: {} };
    const context = vm.createContext({ author: makeAuthor(), print: () => {}, module });
    vm.runInContext(`"use strict";\n${SOURCE}`, context, { filename: SCRIPT_PATH });
    return module.exports;
}

// Flamenco's setting schema (pkg/api/flamenco-openapi.yaml, 3.9: AvailableJobType,
// AvailableJobSetting, AvailableJobSettingType/Subtype/Visibility). The Manager exports
// JOB_TYPE into the Go struct api.AvailableJobType with goja's ExportTo, which silently drops
// keys it does not know, and the Blender add-on builds bpy.props from it; so a misspelt key or
// value would not fail, it would just not do what it says. name and etag are set by the Manager.
const SCHEMA = {
    jobTypeKeys: ["label", "description", "settings"],
    settingKeys: ["key", "type", "subtype", "choices", "propargs", "description", "label", "default",
        "eval", "evalInfo", "visible", "required", "editable"],
    type: ["string", "int32", "float", "bool"],
    subtype: ["file_path", "dir_path", "file_name", "hashed_file_path"],
    visible: ["visible", "hidden", "submission", "web"],
    evalInfoKeys: ["showLinkButton", "description"],  // both required
};
// bpy.props keyword arguments the add-on may receive through `propargs` for these types.
const PROPARGS = {
    int32: ["min", "max", "soft_min", "soft_max", "step"],
    float: ["min", "max", "soft_min", "soft_max", "step", "precision"],
};

// The problems of a JOB_TYPE object against SCHEMA, as strings (empty: none).
function schemaProblems(jobType) {
    const problems = [];
    const typeOf = (v) => (Array.isArray(v) ? "array" : v === null ? "null" : typeof v);
    for (const k of Object.keys(jobType)) {
        if (!SCHEMA.jobTypeKeys.includes(k)) problems.push(`JOB_TYPE.${k}: not a job type key`);
    }
    if (typeof jobType.label !== "string" || jobType.label === "") problems.push("JOB_TYPE.label: required string");
    if (!Array.isArray(jobType.settings)) return problems.concat("JOB_TYPE.settings: required array");
    const seen = new Set();
    for (const [i, st] of jobType.settings.entries()) {
        const where = `settings[${i}] ${st && st.key}`;
        if (typeOf(st) !== "object") { problems.push(`${where}: not an object`); continue; }
        for (const k of Object.keys(st)) {
            if (!SCHEMA.settingKeys.includes(k)) problems.push(`${where}: unknown key "${k}"`);
        }
        if (typeof st.key !== "string" || st.key === "") problems.push(`${where}: key is required`);
        if (seen.has(st.key)) problems.push(`${where}: duplicate key`);
        seen.add(st.key);
        if (!SCHEMA.type.includes(st.type)) problems.push(`${where}: type ${JSON.stringify(st.type)} not in ${SCHEMA.type}`);
        if ("subtype" in st) {
            if (!SCHEMA.subtype.includes(st.subtype)) problems.push(`${where}: subtype ${JSON.stringify(st.subtype)} not in ${SCHEMA.subtype}`);
            if (st.type !== "string") problems.push(`${where}: subtype is only for string settings`);
        }
        if ("visible" in st && !SCHEMA.visible.includes(st.visible)) {
            problems.push(`${where}: visible ${JSON.stringify(st.visible)} not in ${SCHEMA.visible}`);
        }
        for (const k of ["required", "editable"]) {
            if (k in st && typeof st[k] !== "boolean") problems.push(`${where}: ${k} must be a boolean`);
        }
        for (const k of ["description", "label", "eval"]) {
            if (k in st && typeof st[k] !== "string") problems.push(`${where}: ${k} must be a string`);
        }
        if ("choices" in st) {
            if (st.type !== "string") problems.push(`${where}: choices are only for string settings`);
            if (!Array.isArray(st.choices) || st.choices.length === 0 || !st.choices.every((c) => typeof c === "string")) {
                problems.push(`${where}: choices must be a non-empty array of strings`);
            } else if ("default" in st && !st.choices.includes(st.default)) {
                problems.push(`${where}: default ${JSON.stringify(st.default)} is not one of the choices`);
            }
        }
        if ("default" in st) {
            const d = st.default;
            const ok = { string: typeof d === "string", bool: typeof d === "boolean",
                int32: Number.isInteger(d) && d >= -(2 ** 31) && d < 2 ** 31, float: typeof d === "number" }[st.type];
            if (!ok) problems.push(`${where}: default ${JSON.stringify(d)} is not a ${st.type}`);
        }
        if ("evalInfo" in st) {
            const info = st.evalInfo;
            if (typeOf(info) !== "object") {
                problems.push(`${where}: evalInfo must be an object`);
            } else {
                for (const k of Object.keys(info)) {
                    if (!SCHEMA.evalInfoKeys.includes(k)) problems.push(`${where}: unknown evalInfo key "${k}"`);
                }
                if (typeof info.showLinkButton !== "boolean") problems.push(`${where}: evalInfo.showLinkButton is a required boolean`);
                if (typeof info.description !== "string") problems.push(`${where}: evalInfo.description is a required string`);
                if (!("eval" in st)) problems.push(`${where}: evalInfo without eval`);
            }
        }
        if ("propargs" in st) {
            if (typeOf(st.propargs) !== "object") {
                problems.push(`${where}: propargs must be an object`);
            } else {
                for (const [k, v] of Object.entries(st.propargs)) {
                    if (!(PROPARGS[st.type] || []).includes(k)) problems.push(`${where}: propargs.${k} is not for a ${st.type}`);
                    else if (typeof v !== "number") problems.push(`${where}: propargs.${k} must be a number`);
                }
            }
        }
    }
    return problems;
}

const BASE = {
    depth_pattern: "/shared/shot/depth_####.exr",
    output_pattern: "/shared/shot/cloud/cloud_####.ply",
};

// Compile a job with the Flamenco-style load; returns {tasks, settings}.
function compile(settings) {
    const context = loadAsFlamenco();
    const tasks = [];
    const job = { settings: { ...settings }, addTask(task) { tasks.push(task); } };
    context.job = job;
    vm.runInContext("compileJob(job)", context);
    return { tasks, settings: job.settings, logs: context.logs };
}

// "1-10,20..25" -> [1..10, 20..25], independently of the script (the expectation).
function expand(spec) {
    const frames = [];
    for (const part of spec.split(",")) {
        const [a, b] = part.trim().replace("..", "-").split("-").map(Number);
        for (let f = a; f <= (b === undefined ? a : b); f++) frames.push(f);
    }
    return frames;
}

// Objects made inside the vm context have that context's prototypes; compare plain copies.
const plain = (value) => JSON.parse(JSON.stringify(value));
// An Error from the script (cross-realm, so not `instanceof Error` here) whose message matches.
const scriptError = (pattern) => (err) =>
    Object.prototype.toString.call(err) === "[object Error]" && err.name === "Error" && pattern.test(err.message);

function framesArg(task) {
    const args = task.commands[0].parameters.args;
    const i = args.indexOf("--frames");
    assert.ok(i >= 0, `task ${task.name} has no --frames`);
    return args[i + 1];
}

function checkJob(settings, expectedFrames, expectedChunks) {
    const { tasks } = compile(settings);
    assert.ok(tasks.length > 0, "no tasks");

    const seen = new Map();
    for (const task of tasks) {
        assert.equal(task.commands.length, 1, `task ${task.name}: one command`);
        const cmd = task.commands[0];
        assert.equal(cmd.name, "exec");
        assert.equal(cmd.totalStepCount, 0, "exec reports no steps: totalStepCount 0");
        assert.ok(cmd.stepCountGiven, "totalStepCount passed explicitly");
        assert.deepEqual(Object.keys(cmd.parameters).sort(), ["args", "exe"], "exec reads only exe and args");
        assert.equal(cmd.parameters.exe, settings.depth_cloud_exe || "depth-cloud");
        const args = cmd.parameters.args;
        assert.ok(Array.isArray(args) && args.every((a) => typeof a === "string"), "args: strings");
        assert.equal(args[0], "convert");
        assert.equal(args[1], settings.depth_pattern);
        assert.equal(args[args.indexOf("-o") + 1], settings.output_pattern);
        assert.equal(args[args.indexOf("--jobs") + 1], String(settings.jobs_per_task || 1));
        if (settings.camera_pattern) {
            assert.equal(args[args.indexOf("--camera") + 1], settings.camera_pattern);
        } else {
            assert.ok(!args.includes("--camera"), "no --camera when the pattern is empty");
        }

        // Each chunk is one contiguous range "A-B" (A < B) or one frame "A".
        const chunk = framesArg(task);
        const m = /^(\d+)(?:-(\d+))?$/.exec(chunk);
        assert.ok(m, `chunk "${chunk}" is a contiguous range`);
        const first = Number(m[1]);
        const last = m[2] === undefined ? first : Number(m[2]);
        assert.ok(last > first || m[2] === undefined, `chunk "${chunk}" is well formed`);
        assert.ok(last - first + 1 <= (settings.chunk_size || 10), `chunk "${chunk}" within chunk size`);
        assert.equal(task.name, `convert-${chunk}`);
        for (let f = first; f <= last; f++) {
            assert.ok(!seen.has(f), `frame ${f} in ${seen.get(f)} and ${chunk}`);
            seen.set(f, chunk);
        }
    }
    // Exactly the requested frames: no gaps, no extras.
    assert.deepEqual([...seen.keys()].sort((a, b) => a - b), expectedFrames);
    if (expectedChunks) {
        assert.deepEqual(tasks.map(framesArg), expectedChunks);
    }
    return tasks;
}

test("1-240, chunk 10: 24 tasks covering every frame once", () => {
    const tasks = checkJob({ ...BASE, frames: "1-240", chunk_size: 10 }, expand("1-240"));
    assert.equal(tasks.length, 24);
    assert.equal(framesArg(tasks[0]), "1-10");
    assert.equal(framesArg(tasks[23]), "231-240");
});

test("1-7, chunk 3: a short last chunk", () => {
    checkJob({ ...BASE, frames: "1-7", chunk_size: 3 }, expand("1-7"), ["1-3", "4-6", "7"]);
});

test("a single frame", () => {
    checkJob({ ...BASE, frames: "5" }, [5], ["5"]);
});

test("1-10,20-25, chunk 4: chunks split at the gap", () => {
    checkJob({ ...BASE, frames: "1-10,20-25", chunk_size: 4 }, expand("1-10,20-25"),
        ["1-4", "5-8", "9-10", "20-23", "24-25"]);
});

test("chunk larger than the range: one task", () => {
    checkJob({ ...BASE, frames: "3-12", chunk_size: 100 }, expand("3-12"), ["3-12"]);
});

test("whitespace, unsorted and overlapping ranges: each frame once", () => {
    checkJob({ ...BASE, frames: " 20 - 25 ,1-10, 8-12 ", chunk_size: 5 }, expand("1-12,20-25"),
        ["1-5", "6-10", "11-12", "20-24", "25"]);
});

test("jobs > 1, camera pattern, executable and options reach the command line", () => {
    const settings = {
        ...BASE, frames: "1-20", chunk_size: 10, jobs_per_task: 4,
        camera_pattern: "/shared/shot/camera_####.json", depth_cloud_exe: "/opt/venv/bin/depth-cloud",
        stride: 2, space: "camera", depth_kind: "planar", format: "npz",
        output_pattern: "/shared/shot/cloud/cloud_####.npz",
    };
    const tasks = checkJob(settings, expand("1-20"), ["1-10", "11-20"]);
    assert.deepEqual(plain(tasks[1].commands[0].parameters.args), [
        "convert", "/shared/shot/depth_####.exr", "--frames", "11-20", "--jobs", "4",
        "-o", "/shared/shot/cloud/cloud_####.npz", "--camera", "/shared/shot/camera_####.json",
        "--stride", "2", "--space", "camera", "--depth-kind", "planar", "--format", "npz",
    ]);
    assert.equal(tasks[0].type, "misc");
});

test("defaults are applied when a submission leaves settings out", () => {
    const { tasks, settings } = compile({ ...BASE, frames: "1-25" });
    assert.deepEqual(tasks.map(framesArg), ["1-10", "11-20", "21-25"]);
    assert.deepEqual(plain(tasks[0].commands[0].parameters), {
        exe: "depth-cloud",
        args: ["convert", BASE.depth_pattern, "--frames", "1-10", "--jobs", "1", "-o", BASE.output_pattern,
            "--stride", "1", "--space", "world", "--depth-kind", "auto", "--format", "ply"],
    });
    assert.equal(settings.chunk_size, 10);
    assert.equal(settings.jobs_per_task, 1);
});

test("bad frame specs throw a clear Error", () => {
    const { parseFrameSpec, chunkFrames } = loadWithExports();
    for (const bad of ["", "   ", "3-1", "a-b", "1-2-3", "-5", "1-", "1,,2", "1.5", null,
        "1...10", "1..", "..5", "1..2..3", "1-..3", "3..1", "1 0-20", "1.-10"]) {
        assert.throws(() => parseFrameSpec(bad), scriptError(/frames/),
            `parseFrameSpec(${JSON.stringify(bad)})`);
        assert.throws(() => compile({ ...BASE, frames: bad }), scriptError(/frames|required/), `compileJob frames=${JSON.stringify(bad)}`);
    }
    assert.throws(() => chunkFrames("1-10", 0), /chunk_size/);
    assert.throws(() => chunkFrames("1-10", 2.5), /chunk_size/);
});

test("bad settings throw a clear Error", () => {
    assert.throws(() => compile({ frames: "1-10", output_pattern: BASE.output_pattern }), /depth_pattern: this setting is required/);
    assert.throws(() => compile({ ...BASE, frames: "1-10", depth_pattern: "/shared/depth.exr" }), /depth_pattern.*# run/);
    assert.throws(() => compile({ ...BASE, frames: "1-10", jobs_per_task: 0 }), /jobs_per_task/);
    assert.throws(() => compile({ ...BASE, frames: "1-10", space: "screen" }), /space: expected one of world, camera/);
    assert.throws(() => compile({ ...BASE, frames: "1-10", format: "npz" }), /ends in \.ply but format is npz/);
});

test("parseFrameSpec merges and sorts ranges", () => {
    const { parseFrameSpec } = loadWithExports();
    assert.deepEqual(plain(parseFrameSpec("1-240")), [[1, 240]]);
    assert.deepEqual(plain(parseFrameSpec("7")), [[7, 7]]);
    assert.deepEqual(plain(parseFrameSpec("20-30, 1-10")), [[1, 10], [20, 30]]);
    assert.deepEqual(plain(parseFrameSpec("1-10,11-12,0")), [[0, 12]]);
});

test("loads like Flamenco: JOB_TYPE and compileJob are globals, frameChunker is not used", () => {
    const context = loadAsFlamenco();  // no `frameChunker` global: using it would throw
    const jobType = vm.runInContext("JOB_TYPE", context);
    assert.equal(jobType.label, "Depth Cloud: Convert Sequence");
    assert.equal(typeof vm.runInContext("compileJob", context), "function");
    for (const s of jobType.settings) {
        assert.equal(typeof s.description, "string", `${s.key}: has a description`);
    }
    assert.ok(!/\bframeChunker\s*\(/.test(SOURCE.replace(/\/\/.*$/gm, "")), "does not call frameChunker");
});

test("JOB_TYPE matches Flamenco's setting schema (keys and enums of flamenco-openapi.yaml)", () => {
    const jobType = plain(vm.runInContext("JOB_TYPE", loadAsFlamenco()));
    assert.deepEqual(schemaProblems(jobType), []);
    // Path settings are file paths for the Blender add-on's file browser.
    for (const key of ["depth_pattern", "camera_pattern", "output_pattern"]) {
        assert.equal(jobType.settings.find((s) => s.key === key).subtype, "file_path", key);
    }
});

test("the schema check catches what Flamenco would silently drop or misread", () => {
    const ok = { label: "L", settings: [{ key: "a", type: "string" }] };
    assert.deepEqual(schemaProblems(ok), []);
    const bad = (setting, pattern) => {
        const problems = schemaProblems({ label: "L", settings: [setting] });
        assert.ok(problems.some((p) => pattern.test(p)), `${JSON.stringify(setting)}: ${problems.join("; ")}`);
    };
    bad({ key: "a", type: "int" }, /type "int" not in/);
    bad({ key: "a", type: "string", subtype: "filepath" }, /subtype "filepath" not in/);
    bad({ key: "a", type: "int32", subtype: "file_path" }, /subtype is only for string/);
    bad({ key: "a", type: "string", visible: "always" }, /visible "always" not in/);
    bad({ key: "a", type: "string", requried: true }, /unknown key "requried"/);
    bad({ key: "a", type: "string", required: "yes" }, /required must be a boolean/);
    bad({ key: "a", type: "int32", choices: ["1"] }, /choices are only for string/);
    bad({ key: "a", type: "string", choices: ["x", "y"], default: "z" }, /not one of the choices/);
    bad({ key: "a", type: "int32", default: 1.5 }, /default 1.5 is not a int32/);
    bad({ key: "a", type: "string", eval: "1", evalInfo: { showLinkButton: true } }, /evalInfo.description/);
    bad({ key: "a", type: "int32", propargs: { minimum: 1 } }, /propargs.minimum/);
    assert.ok(schemaProblems({ label: "L", name: "x", settings: [] }).some((p) => /JOB_TYPE.name/.test(p)));
    assert.ok(schemaProblems({ label: "L", settings: [{ key: "a", type: "bool" }, { key: "a", type: "bool" }] })
        .some((p) => /duplicate key/.test(p)));
});

test("the author shim takes Flamenco's third Command argument and checks it", () => {
    const author = makeAuthor();
    assert.equal(author.Command("exec", {}).totalStepCount, 0, "left out: 0, as goja passes Go's zero value");
    assert.equal(author.Command("blender-render", {}, 10).totalStepCount, 10);
    assert.throws(() => author.Command("exec", {}, 1.5), /totalStepCount/);
    assert.throws(() => author.Command("exec", {}, -1), /totalStepCount/);
    assert.throws(() => author.Command("exec", "exe args"), /parameters must be an object/);
    assert.throws(() => author.Task("", "misc"), /name is required/);
    assert.throws(() => author.Task("t", "  "), /type is required/);
});

test("every exec command is authored with totalStepCount 0", () => {
    const { EXEC_STEP_COUNT } = loadWithExports();
    assert.equal(EXEC_STEP_COUNT, 0);
    const { tasks } = compile({ ...BASE, frames: "1-30", chunk_size: 7, jobs_per_task: 3 });
    assert.equal(tasks.length, 5);
    for (const task of tasks) {
        assert.equal(task.commands.length, 1);
        assert.equal(task.commands[0].totalStepCount, 0);
        assert.ok(task.commands[0].stepCountGiven);
    }
});

test("Flamenco's A..B frame notation: same tasks as A-B, --frames always A-B", () => {
    checkJob({ ...BASE, frames: "1..25" }, expand("1-25"), ["1-10", "11-20", "21-25"]);
    checkJob({ ...BASE, frames: "1..10,20-25", chunk_size: 4 }, expand("1-10,20-25"),
        ["1-4", "5-8", "9-10", "20-23", "24-25"]);
    checkJob({ ...BASE, frames: " 20 .. 25 , 1 - 10 ,8..12", chunk_size: 5 }, expand("1-12,20-25"),
        ["1-5", "6-10", "11-12", "20-24", "25"]);
    checkJob({ ...BASE, frames: "7..7" }, [7], ["7"]);
    const { parseFrameSpec } = loadWithExports();
    assert.deepEqual(plain(parseFrameSpec("1..240")), plain(parseFrameSpec("1-240")));
    assert.deepEqual(plain(parseFrameSpec("0..3, 4-6")), [[0, 6]]);
    // The setting keeps what was submitted; the chunks are the CLI's A-B.
    const { tasks, settings } = compile({ ...BASE, frames: "1..12" });
    assert.equal(settings.frames, "1..12");
    assert.deepEqual(tasks.map(framesArg), ["1-10", "11-12"]);
});

test("a Blender-relative // path is rejected with a message naming the setting", () => {
    const { PATH_SETTINGS } = loadWithExports();
    assert.deepEqual(plain(PATH_SETTINGS), ["depth_pattern", "camera_pattern", "output_pattern", "partials_dir",
        "depth_cloud_exe"]);
    const cases = {
        depth_pattern: "//depth_cloud/depth_####.exr",
        camera_pattern: "//depth_cloud/camera_####.json",
        output_pattern: "//clouds/cloud_####.ply",
        partials_dir: "//clouds/partials",
        depth_cloud_exe: "//venv/bin/depth-cloud",
    };
    for (const [key, value] of Object.entries(cases)) {
        assert.throws(() => compile({ ...BASE, frames: "1-10", [key]: value }),
            scriptError(new RegExp(`^${key}: "${value}" is a Blender-relative path.*absolute path`)), key);
        assert.throws(() => compile({ ...BASE, frames: "1-10", [key]: `  ${value}` }), scriptError(/Blender-relative/), `${key}, leading spaces`);
    }
    // "//" elsewhere in a path, a single leading "/", Windows paths and variables are fine.
    for (const depth of ["/shared//shot/depth_####.exr", "/shared/shot/depth_####.exr", "S:\\shot\\depth_####.exr",
        "{storage}/shot/depth_####.exr"]) {
        const { tasks } = compile({ ...BASE, frames: "1", depth_pattern: depth });
        assert.equal(tasks[0].commands[0].parameters.args[1], depth);
    }
});

// The Manager lower-cases a Worker's task types at sign-on (internal/manager/api_impl/workers.go,
// workerUpdateAfterSignOn) and stores them comma-joined: "Depth-Cloud" would never be scheduled.
test("task_type: misc by default, a dedicated type when set, rejected when malformed", () => {
    assert.equal(compile({ ...BASE, frames: "1-3" }).tasks[0].type, "misc");
    const { tasks, settings } = compile({ ...BASE, frames: "1-30", task_type: "depth-cloud" });
    assert.ok(tasks.every((t) => t.type === "depth-cloud"));
    assert.equal(settings.task_type, "depth-cloud");
    for (const bad of ["", " ", "depth cloud", "-x", 5, "misc\n", "Depth-Cloud", "misc,blender"]) {
        assert.throws(() => compile({ ...BASE, frames: "1", task_type: bad }), scriptError(/task_type/), JSON.stringify(bad));
    }
});

test("cancel-safe command: the Worker starts (and kills) depth-cloud itself, one process by default", () => {
    // The Worker kills only the process it started (exec.CommandContext, no process group), so
    // that process must be depth-cloud, not a shell; with --jobs 1 it starts no others.
    const { tasks } = compile({ ...BASE, frames: "1-10" });
    const params = plain(tasks[0].commands[0].parameters);
    assert.equal(params.exe, "depth-cloud");
    assert.equal(params.args[0], "convert");
    assert.equal(params.args[params.args.indexOf("--jobs") + 1], "1");
    // No shell syntax anywhere: each argument reaches depth-cloud as it is.
    const { tasks: spaced } = compile({ ...BASE, frames: "1", depth_pattern: "/shared/my shot/depth_####.exr; rm -rf x" });
    assert.equal(spaced[0].commands[0].parameters.args[1], "/shared/my shot/depth_####.exr; rm -rf x");
    assert.ok(!/\b(setsid|setpgid|killpg|process\.kill|sh\s+-c|cmd(\.exe)?\s+\/c)\b/.test(SOURCE.replace(/\/\/.*$/gm, "")),
        "the job type does not build a shell or process-group wrapper");
});

// -- fuse jobs: chunk tasks writing partial grids, then one merge task depending on all of them ---------

const FUSE = {
    depth_pattern: "/shared/shot/depth_####.exr",
    output_pattern: "/shared/shot/fused.ply",
    fuse: true,
    voxel_size: 0.02,
};

// The value after `flag` in a task's args.
function argOf(task, flag) {
    const args = task.commands[0].parameters.args;
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
}

test("fuse: one partial-grid task per chunk, then one merge task that depends on every one of them", () => {
    const { tasks, settings, logs } = compile({ ...FUSE, frames: "1-25" });
    assert.equal(tasks.length, 4);
    const chunks = tasks.slice(0, 3);
    const merge = tasks[3];
    assert.deepEqual(chunks.map((t) => t.name), ["fuse-1-10", "fuse-11-20", "fuse-21-25"]);
    assert.deepEqual(plain(chunks[1].commands[0].parameters), {
        exe: "depth-cloud",
        args: ["convert", FUSE.depth_pattern, "--frames", "11-20", "-o", "/shared/shot/fused_partials/partial_11-20.npz",
            "--fuse", "--voxel", "0.02", "--partial", "--stride", "1", "--space", "world", "--depth-kind", "auto"],
    });
    for (const task of chunks) {
        assert.equal(task.commands.length, 1);
        assert.equal(task.commands[0].name, "exec");
        assert.equal(task.commands[0].totalStepCount, 0);
        assert.ok(task.commands[0].stepCountGiven);
        assert.deepEqual(task.dependencies, [], "chunk tasks run in parallel");
        assert.equal(task.type, "misc");
    }
    assert.equal(merge.name, "merge");
    assert.equal(merge.type, "misc");
    assert.equal(merge.commands.length, 1);
    assert.equal(merge.commands[0].totalStepCount, 0);
    assert.deepEqual(plain(merge.commands[0].parameters), {
        exe: "depth-cloud",
        args: ["merge", "/shared/shot/fused_partials/partial_1-10.npz", "/shared/shot/fused_partials/partial_11-20.npz",
            "/shared/shot/fused_partials/partial_21-25.npz", "-o", "/shared/shot/fused.ply", "--format", "ply"],
    });
    // The merge waits for exactly the chunk tasks (the same objects the job holds).
    assert.equal(merge.dependencies.length, 3);
    chunks.forEach((task, i) => assert.ok(merge.dependencies[i] === task, `merge depends on ${task.name}`));
    // Each chunk writes the partial grid the merge reads; every frame in exactly one chunk.
    assert.deepEqual(chunks.map((t) => argOf(t, "-o")), plain(merge.commands[0].parameters.args.slice(1, 4)));
    assert.deepEqual(chunks.map(framesArg), ["1-10", "11-20", "21-25"]);
    assert.equal(settings.fuse, true);
    assert.equal(settings.voxel_size, 0.02);
    assert.ok(logs.some((line) => /3 task\(s\) and a merge/.test(line)), logs.join("\n"));
});

test("fuse: gaps, camera pattern, options, partials_dir and the task type reach the commands", () => {
    const { tasks } = compile({
        ...FUSE, frames: "1..4, 10-12", chunk_size: 3, camera_pattern: "/shared/shot/camera_####.json",
        stride: 2, depth_kind: "planar", format: "npz", output_pattern: "/shared/shot/fused.npz",
        partials_dir: "/scratch/partials/", voxel_size: "0.5", task_type: "depth-cloud",
        depth_cloud_exe: "/opt/venv/bin/depth-cloud", jobs_per_task: 4,
    });
    assert.deepEqual(tasks.map((t) => t.name), ["fuse-1-3", "fuse-4", "fuse-10-12", "merge"]);
    assert.ok(tasks.every((t) => t.type === "depth-cloud" && t.commands[0].parameters.exe === "/opt/venv/bin/depth-cloud"));
    assert.deepEqual(plain(tasks[1].commands[0].parameters.args), [
        "convert", "/shared/shot/depth_####.exr", "--frames", "4", "-o", "/scratch/partials/partial_4.npz",
        "--fuse", "--voxel", "0.5", "--partial", "--camera", "/shared/shot/camera_####.json",
        "--stride", "2", "--space", "world", "--depth-kind", "planar",
    ]);
    assert.ok(!tasks[0].commands[0].parameters.args.includes("--jobs"), "fusion reads frames one at a time");
    assert.deepEqual(plain(tasks[3].commands[0].parameters.args), [
        "merge", "/scratch/partials/partial_1-3.npz", "/scratch/partials/partial_4.npz",
        "/scratch/partials/partial_10-12.npz", "-o", "/shared/shot/fused.npz", "--format", "npz",
    ]);
    assert.equal(tasks[3].dependencies.length, 3);
    // Windows paths keep their separator; an output without extension gets NAME_partials.
    const { partialPath } = loadWithExports();
    assert.equal(partialPath({ output_pattern: "S:\\shot\\fused.ply", partials_dir: "" }, "1-10"),
        "S:\\shot\\fused_partials\\partial_1-10.npz");
    assert.equal(partialPath({ output_pattern: "/shared/v1.2/fused", partials_dir: "" }, "7"),
        "/shared/v1.2/fused_partials/partial_7.npz");
    assert.equal(partialPath({ output_pattern: "/x/fused.ply", partials_dir: "{storage}/p" }, "7"), "{storage}/p/partial_7.npz");
});

test("fuse: bad settings throw a clear Error naming the setting", () => {
    assert.throws(() => compile({ ...FUSE, frames: "1-10", voxel_size: 0 }), scriptError(/^voxel_size: a fuse job needs a voxel size > 0/));
    assert.throws(() => compile({ ...FUSE, frames: "1-10", voxel_size: undefined }), scriptError(/^voxel_size/));
    assert.throws(() => compile({ ...FUSE, frames: "1-10", voxel_size: -1 }), scriptError(/^voxel_size: expected a number >= 0/));
    assert.throws(() => compile({ ...FUSE, frames: "1-10", voxel_size: "fine" }), scriptError(/^voxel_size: expected a number/));
    assert.throws(() => compile({ ...FUSE, frames: "1-10", output_pattern: "/shared/fused_####.ply" }),
        scriptError(/^output_pattern: .* has a # run, but a fuse job writes one fused cloud/));
    assert.throws(() => compile({ ...FUSE, frames: "1-10", space: "camera" }), scriptError(/^space: a fuse job needs "world"/));
    assert.throws(() => compile({ ...FUSE, frames: "1-10", format: "npz" }), scriptError(/ends in \.ply but format is npz/));
    assert.throws(() => compile({ ...FUSE, frames: "1-10", fuse: "yes" }), scriptError(/^fuse: expected true or false/));
    assert.throws(() => compile({ ...FUSE, frames: "1-10", partials_dir: "//partials" }), scriptError(/^partials_dir: .*Blender-relative/));
    assert.throws(() => compile({ ...FUSE, frames: "1-10", depth_pattern: "/shared/depth.exr" }), scriptError(/^depth_pattern.*# run/));
    // Not a fuse job: the voxel size is not used, and the output still needs its # run.
    assert.equal(compile({ ...BASE, frames: "1-3", fuse: false, voxel_size: 0 }).tasks.length, 1);
    assert.equal(compile({ ...BASE, frames: "1-3", fuse: "false" }).tasks[0].name, "convert-1-3");
    assert.throws(() => compile({ ...BASE, frames: "1-3", output_pattern: "/shared/fused.ply" }), scriptError(/^output_pattern.*# run/));
});

test("a convert job (fuse left out or false) has no merge task and no dependencies", () => {
    for (const fuse of [undefined, false]) {
        const { tasks, settings } = compile({ ...BASE, frames: "1-30", fuse });
        assert.deepEqual(tasks.map((t) => t.name), ["convert-1-10", "convert-11-20", "convert-21-30"]);
        assert.ok(tasks.every((t) => t.dependencies.length === 0));
        assert.equal(settings.fuse, false);
        assert.equal(settings.voxel_size, 0);
    }
});
