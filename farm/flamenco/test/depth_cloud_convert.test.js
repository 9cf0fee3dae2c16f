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

// Stand-in for Flamenco's `author` module (internal/manager/job_compilers/author.go):
// Task(name, type) -> task with addCommand/addDependency; Command(name, parameters).
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
        Command(name, parameters) {
            return { name, parameters };
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

// "1-10,20-25" -> [1..10, 20..25], independently of the script (the expectation).
function expand(spec) {
    const frames = [];
    for (const part of spec.split(",")) {
        const [a, b] = part.trim().split("-").map(Number);
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
    for (const bad of ["", "   ", "3-1", "a-b", "1-2-3", "-5", "1-", "1,,2", "1..10", "1.5", null]) {
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
    const keys = jobType.settings.map((s) => s.key);
    assert.equal(new Set(keys).size, keys.length, "unique setting keys");
    for (const s of jobType.settings) {
        assert.ok(["string", "int32", "float", "bool"].includes(s.type), `${s.key}: Flamenco setting type`);
        assert.equal(typeof s.description, "string");
    }
    assert.ok(!/\bframeChunker\s*\(/.test(SOURCE.replace(/\/\/.*$/gm, "")), "does not call frameChunker");
});
