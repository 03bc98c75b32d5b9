using System.Diagnostics;
using System.Globalization;
using Shoal.Api;
using Shoal.Store;
using ApiNode = Shoal.Api.Node;
using SchedulerLoop = Shoal.Manager.Scheduler.Scheduler;

namespace Shoal.Bench;

/// <summary>
/// The scheduler against SwarmKit's own scheduler benchmark (<c>benchScheduler</c>, shared/reference/swarmkit-bench-here.md
/// §2): per op, untimed, a fresh Raft-less store, the scheduler running on it and a watcher of task updates; timed, from
/// inside the one transaction that creates N READY nodes and T PENDING tasks (after the creates, before its commit,
/// where SwarmKit calls StartTimer) until the watcher has seen all T tasks ASSIGNED. The 50 ms debounce is included, as
/// in SwarmKit. Tasks have no service, spec version or reservations (SwarmKit's ungrouped worst case) unless the shape
/// says "service".
/// </summary>
internal static class SchedulerBench
{
    private sealed record Shape(string Name, int Nodes, int Tasks, bool Constrained, bool Service, double? SwarmKitPerSecond);

    private static readonly Shape[] Shapes =
    [
        new("1k nodes x 1k tasks", 1_000, 1_000, false, false, 10_670),
        new("1k nodes x 10k tasks", 1_000, 10_000, false, false, 13_805),
        new("1k nodes x 100k tasks", 1_000, 100_000, false, false, 10_954),
        new("constraints 1k nodes x 1k tasks", 1_000, 1_000, true, false, 9_562),
        new("constraints 1k nodes x 10k tasks", 1_000, 10_000, true, false, 13_180),
        new("constraints 1k nodes x 100k tasks", 1_000, 100_000, true, false, 10_619),
        new("constraints 5k nodes x 100k tasks", 5_000, 100_000, true, false, 3_470),
        new("100k nodes x 1k tasks", 100_000, 1_000, false, false, 90.0),
        new("100k nodes x 100k tasks", 100_000, 100_000, false, false, 40.3),
        new("service: 1k nodes x 100k tasks of one service", 1_000, 100_000, false, true, null),
        new("service: 100k nodes x 100k tasks of one service", 100_000, 100_000, false, true, null),
    ];

    /// <summary><c>scheduler [--reps 3] [--only text]</c>: prints a markdown table. Every shape runs: at one filter pass
    /// per group even 100k nodes × 100k tasks takes seconds (SwarmKit's took 41 minutes).</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var repsAt = Array.IndexOf(args, "--reps");
        var reps = repsAt >= 0 ? int.Parse(args[repsAt + 1], CultureInfo.InvariantCulture) : 3;
        var onlyAt = Array.IndexOf(args, "--only");
        var only = onlyAt >= 0 ? args[onlyAt + 1] : null;

        Console.WriteLine($"load average before: {HostLoad.Averages()}; {Environment.ProcessorCount} CPUs; GC server={System.Runtime.GCSettings.IsServerGC}");
        await RunOpAsync(Shapes[0]); // warm-up: JIT
        Console.WriteLine("| shape | N nodes | T tasks | reps | ms per op, median (min–max) | tasks placed/s, median (best) | allocated per op | SwarmKit tasks/s | Shoal ÷ SwarmKit |");
        Console.WriteLine("|---|---:|---:|---:|---|---:|---:|---:|---:|");
        foreach (var shape in Shapes)
        {
            if (only is not null && !shape.Name.Contains(only, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var times = new List<double>();
            long allocated = 0;
            for (var r = 0; r < reps; r++)
            {
                var (ms, bytes) = await RunOpAsync(shape);
                times.Add(ms);
                allocated += bytes;
            }

            times.Sort();
            var median = times[times.Count / 2];
            var perSecond = shape.Tasks / (median / 1000);
            var best = shape.Tasks / (times[0] / 1000);
            var swarmKit = shape.SwarmKitPerSecond is { } s ? s.ToString("#,0.#", CultureInfo.InvariantCulture) : "—";
            var ratio = shape.SwarmKitPerSecond is { } k ? $"{perSecond / k:0.#}×" : "—";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {shape.Name} | {shape.Nodes:#,0} | {shape.Tasks:#,0} | {times.Count} | {median:#,0.0} ({times[0]:#,0.0}–{times[^1]:#,0.0}) | {perSecond:#,0} ({best:#,0}) | {allocated / times.Count / 1048576.0:#,0.0} MB | {swarmKit} | {ratio} |"));
        }

        Console.WriteLine($"load average after: {HostLoad.Averages()}");
        return 0;
    }

    private static async Task<(double Ms, long Bytes)> RunOpAsync(Shape shape)
    {
        // Untimed: the objects, a fresh store, the scheduler running, the watcher.
        var nodes = new ApiNode[shape.Nodes];
        for (var i = 0; i < nodes.Length; i++)
        {
            var node = new ApiNode
            {
                Id = "node" + i.ToString(CultureInfo.InvariantCulture),
                Spec = new NodeSpec { Membership = NodeMembership.Accepted, Availability = NodeAvailability.Active, Annotations = new Annotations() },
                Description = new NodeDescription { Hostname = "host" + i.ToString(CultureInfo.InvariantCulture), Engine = new EngineDescription() },
                Status = new NodeStatus { State = NodeState.Ready },
            };
            if (i % 3 == 0)
            {
                node.Description.Engine.Plugins.Add(new PluginDescription { Name = "network", Type = "Network" });
                if (shape.Constrained)
                {
                    // We have no plugin filter: the equivalent admits the same third of the nodes by a label.
                    node.Spec.Annotations.Labels["net"] = "1";
                }
            }

            nodes[i] = node;
        }

        var tasks = new SwarmTask[shape.Tasks];
        for (var i = 0; i < tasks.Length; i++)
        {
            var task = new SwarmTask
            {
                Id = "task" + i.ToString(CultureInfo.InvariantCulture),
                DesiredState = TaskState.Running,
                Status = new SwarmTaskStatus { State = TaskState.Pending },
                Spec = new TaskSpec(),
            };
            if (shape.Constrained)
            {
                task.Spec.Placement = new Placement { Constraints = { "node.labels.net==1" } };
            }

            if (shape.Service)
            {
                task.ServiceId = "service0";
                task.SpecVersion = 1;
                task.Slot = i + 1;
            }

            tasks[i] = task;
        }

        using var store = new MemoryStore();
        using var stop = new CancellationTokenSource();
        var scheduler = new SchedulerLoop(store);
        using var watcher = store.Watch(new WatchOptions
        {
            Filter = StoreEventFilters.Of<SwarmTask>(StoreEventKinds.Update, t => t.Status.State == TaskState.Assigned),
            Capacity = int.MaxValue,
        });
        var run = Task.Run(() => scheduler.RunAsync(stop.Token));
        while (store.WatcherCount < 2)
        {
            await Task.Delay(1);
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);

        // Timed: from after the creates, inside the transaction (SwarmKit's StartTimer), to the last assignment seen.
        long started = 0;
        await store.UpdateAsync(tx =>
        {
            foreach (var node in nodes)
            {
                tx.Create(node);
            }

            foreach (var task in tasks)
            {
                tx.Create(task);
            }

            started = Stopwatch.GetTimestamp();
        });
        for (var seen = 0; seen < tasks.Length; seen++)
        {
            await watcher.ReadAsync();
        }

        var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        await stop.CancelAsync();
        await run;
        return (elapsed, allocated);
    }
}
