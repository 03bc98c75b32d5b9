using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Shoal.Bench.Hollow;
using Shoal.DockerApi.Model;
using DockerNode = Shoal.DockerApi.Model.Node;

namespace Shoal.Bench;

/// <summary>What the <c>scale</c> scenario measures, from the command line.</summary>
internal sealed record ScaleOptions
{
    /// <summary>Hollow worker counts, one swarm each.</summary>
    public required IReadOnlyList<int> Workers { get; init; }

    /// <summary>Service sizes, one service at a time.</summary>
    public required IReadOnlyList<int> Tasks { get; init; }

    /// <summary>The dispatcher heartbeat period the swarm is founded with.</summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Joins in flight at once.</summary>
    public int JoinConcurrency { get; init; } = 16;

    /// <summary>Replicas of the service whose tasks are rescheduled after the kill (and held during the failover).</summary>
    public int RescheduleTasks { get; init; } = 10_000;

    /// <summary>The share of hollow workers killed.</summary>
    public double KillFraction { get; init; } = 0.1;

    /// <summary>How long the steady-state CPU sample lasts.</summary>
    public TimeSpan SteadySample { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Where the figures go as JSON (null: nowhere).</summary>
    public string? JsonPath { get; init; }

    /// <summary>Stream the managers' logs to stderr.</summary>
    public bool Verbose { get; init; }
}

/// <summary>
/// <c>scale</c>: 3 drained managers as real <c>shoal agent</c> processes (<see cref="LocalSwarm"/>) and N hollow
/// workers (<see cref="HollowFleet"/>) in this process, for each N: all N joined and READY, steady-state cost of the
/// managers, services of M replicas up and removed, 10 % of the workers killed and their tasks running elsewhere, and
/// a kill -9 of the leader. Every step has a deadline; a failed step prints what it saw and the scenario goes on (or
/// stops this N cleanly when what follows needs it). Figures go to a table per N and, with <c>--json</c>, to a file.
/// </summary>
internal static class ScaleScenarios
{
    private const int Managers = 3;
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(1.5);
    private static readonly TimeSpan ApiTimeout = TimeSpan.FromSeconds(120);
    private static readonly double ClockTicksPerSecond = 100; // USER_HZ on Linux

    /// <summary>Runs the scenario for every worker count; 0 when every step of every count passed, 1 otherwise.</summary>
    public static async Task<int> RunAsync(ScaleOptions options)
    {
        if (!OperatingSystem.IsLinux())
        {
            Console.Error.WriteLine("the scale scenario reads /proc for the managers' CPU and memory: Linux only");
            return 2;
        }

        // Thousands of sessions' TLS handshakes and timers: do not let the pool start from 2 threads.
        ThreadPool.GetMinThreads(out var workerThreads, out var ioThreads);
        ThreadPool.SetMinThreads(Math.Max(workerThreads, 64), Math.Max(ioThreads, 64));
        var results = new JsonArray();
        var document = new JsonObject
        {
            ["scenario"] = "scale",
            ["machine"] = new JsonObject { ["cpus"] = Environment.ProcessorCount, ["memory_bytes"] = Shoal.Agent.NodeDescriptionProvider.MemoryBytes() },
            ["heartbeat_s"] = options.Heartbeat.TotalSeconds,
            ["join_concurrency"] = options.JoinConcurrency,
            ["started_at"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["load_average_start"] = HostLoad.Averages(),
            ["runs"] = results,
        };
        Console.WriteLine($"scale: {Managers} managers (processes, drained) + hollow workers in this process; heartbeat {options.Heartbeat.TotalSeconds:0.#} s; {options.JoinConcurrency} joins in flight; load average {HostLoad.Averages()}");
        var failed = false;
        foreach (var n in options.Workers)
        {
            var run = new JsonObject { ["workers"] = n };
            results.Add(run);
            try
            {
                failed |= !await RunOneAsync(n, options, run);
            }
            catch (Exception e)
            {
                failed = true;
                run["error"] = e.Message;
                Console.Error.WriteLine($"N={n}: the run stopped: {e}");
            }

            run["load_average_end"] = HostLoad.Averages();
            PrintTable(run);
            document["load_average_end"] = HostLoad.Averages();
            if (options.JsonPath is { } path)
            {
                await File.WriteAllTextAsync(path, document.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
        }

        return failed ? 1 : 0;
    }

    private static async Task<bool> RunOneAsync(int n, ScaleOptions options, JsonObject run)
    {
        Console.WriteLine($"--- N = {n} hollow workers (load average {HostLoad.Averages()}) ---");
        run["load_average_start"] = HostLoad.Averages();
        var swarm = await LocalSwarm.StartAsync(Managers, 0, options.Heartbeat, new LocalSwarmOptions
        {
            LogLevel = options.Verbose ? "information" : "warning",
            Log = options.Verbose ? Console.Error.WriteLine : null,
            StartTimeout = TimeSpan.FromSeconds(120),
        });
        var executor = new HollowExecutor();
        var fleet = new HollowFleet(executor);
        var apis = swarm.Nodes.ToDictionary(m => m, m => new SwarmApiClient(m.ApiSocket, ApiTimeout));
        var ok = true;
        try
        {
            var leader = await swarm.WaitForLeaderAsync(TimeSpan.FromSeconds(60));
            await ServiceScenarios.DrainManagersAsync(swarm, leader);
            var managers = swarm.Nodes.ToList();
            var idle = managers.ToDictionary(m => m, m => ProcessSample.Of(m.ProcessId));
            foreach (var m in managers)
            {
                run[$"rss_idle_mib_{m.Name}"] = Mib(idle[m].RssBytes);
            }

            // 1. Join: every hollow node READY on the leader.
            var remotes = new List<string> { leader.Address };
            remotes.AddRange(managers.Where(m => m != leader).Select(m => m.Address));
            var joinDeadline = TimeSpan.FromSeconds(60 + n * 0.2);
            var started = Stopwatch.GetTimestamp();
            using var joining = new CancellationTokenSource(joinDeadline);
            var joins = fleet.JoinAsync(n, options.JoinConcurrency, remotes, swarm.WorkerToken,
                joined => Console.WriteLine($"  {joined} joined ({Stopwatch.GetElapsedTime(started).TotalSeconds:0} s)"), joining.Token);
            double? allJoined = null;
            _ = joins.ContinueWith(_ => allJoined = Stopwatch.GetElapsedTime(started).TotalSeconds, TaskScheduler.Default);
            var lastReady = 0;
            var ready = await WaitAsync(
                $"{n} hollow workers READY on the leader",
                joinDeadline,
                async () =>
                {
                    var nodes = await NodesOnLeaderAsync(swarm, apis);
                    if (nodes is null)
                    {
                        return false;
                    }

                    lastReady = nodes.Count(IsReadyHollow);
                    return lastReady >= n - fleet.Failures.Count && (joins.IsCompleted || lastReady >= n);
                },
                () => $"{lastReady} READY, {fleet.Workers.Count} joined, {fleet.Failures.Count} join failures{(fleet.Failures.Count > 0 ? " (first: " + fleet.Failures[0] + ")" : string.Empty)}");
            await joins.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            run["join_failures"] = fleet.Failures.Count;
            run["joined_s"] = allJoined;
            run["ready"] = lastReady;
            if (fleet.Failures.Count > 0)
            {
                Console.Error.WriteLine($"  {fleet.Failures.Count} joins failed; first ones:\n    {string.Join("\n    ", fleet.Failures.Take(5))}");
            }

            if (ready is not { } readyTime)
            {
                return false;
            }

            run["all_ready_s"] = readyTime.TotalSeconds;
            run["joins_per_s"] = n / readyTime.TotalSeconds;

            // 2. Steady state: the managers' CPU over the sample and their memory, per connected node.
            await SteadyStateAsync(swarm, managers, idle, n, options.SteadySample, run);

            // 3. Services of M replicas: all RUNNING, then removed.
            var services = new JsonArray();
            run["services"] = services;
            foreach (var m in options.Tasks)
            {
                var entry = new JsonObject { ["replicas"] = m };
                services.Add(entry);
                ok &= await ServiceUpDownAsync(swarm, apis, fleet, m, entry);
            }

            // 4. Kill 10 % of the hollow workers with a service running; 5. kill -9 of the leader.
            ok &= await RescheduleAndFailoverAsync(swarm, apis, fleet, n, options, run);

            foreach (var m in swarm.Nodes)
            {
                if (m.IsRunning)
                {
                    run[$"rss_end_mib_{m.Name}"] = Mib(ProcessSample.Of(m.ProcessId).RssBytes);
                }
            }

            run["harness_working_set_mib"] = Mib(Environment.WorkingSet);
            if (!ok)
            {
                Console.Error.WriteLine($"  the managers' last lines:\n{swarm.Diagnostics(15)}");
            }

            var (failures, messages) = fleet.SessionFailures();
            run["session_failures"] = failures;
            run["session_failure_messages"] = messages;
            return ok;
        }
        finally
        {
            var stopping = Stopwatch.GetTimestamp();
            await fleet.DisposeAsync();
            foreach (var api in apis.Values)
            {
                api.Dispose();
            }

            await ServiceScenarios.StopAsync(swarm);
            Console.WriteLine($"  torn down in {Stopwatch.GetElapsedTime(stopping).TotalSeconds:0} s");
        }
    }

    private static async Task SteadyStateAsync(LocalSwarm swarm, List<SwarmNodeProcess> managers, Dictionary<SwarmNodeProcess, ProcessSample> idle, int n, TimeSpan sample, JsonObject run)
    {
        var before = managers.ToDictionary(m => m, m => ProcessSample.Of(m.ProcessId));
        var started = Stopwatch.GetTimestamp();
        await Task.Delay(sample);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var leader = await FindLeaderAsync(swarm);
        var steady = new JsonArray();
        foreach (var m in managers)
        {
            var after = ProcessSample.Of(m.ProcessId);
            var cpu = (after.CpuTicks - before[m].CpuTicks) / ClockTicksPerSecond / seconds * 100;
            steady.Add(new JsonObject
            {
                ["manager"] = m.Name,
                ["leader"] = m == leader,
                ["cpu_percent"] = Math.Round(cpu, 2),
                ["cpu_percent_per_1000_nodes"] = Math.Round(cpu / n * 1000, 3),
                ["rss_mib"] = Mib(after.RssBytes),
                ["rss_kib_per_node_over_idle"] = Math.Round((after.RssBytes - idle[m].RssBytes) / 1024.0 / n, 1),
            });
        }

        run["steady"] = steady;
        run["steady_sample_s"] = Math.Round(seconds, 1);
    }

    private static async Task<bool> ServiceUpDownAsync(LocalSwarm swarm, Dictionary<SwarmNodeProcess, SwarmApiClient> apis, HollowFleet fleet, int m, JsonObject entry)
    {
        var name = $"scale-{m}";
        var leader = await FindLeaderAsync(swarm) ?? throw new InvalidOperationException("no leader to create the service on");
        var started = Stopwatch.GetTimestamp();
        string id;
        try
        {
            id = await apis[leader].CreateServiceAsync(ServiceScenarios.SleepService(name, m));
        }
        catch (Exception e) when (e is SwarmApiException or HttpRequestException or TaskCanceledException)
        {
            entry["error"] = $"create: {e.Message}";
            Console.Error.WriteLine($"  service of {m}: the create failed: {e.Message}");
            return false;
        }

        var (up, running) = await WaitRunningAsync(swarm, apis, id, m, $"{m} replicas RUNNING", running => $"{running} running per GET /services?status=true; {fleet.Executor.Count} tasks held by the hollow runtime");
        entry["running_seen"] = running;
        var ok = true;
        if (up is { } upTime)
        {
            entry["all_running_s"] = upTime.TotalSeconds;
            entry["placements_per_s"] = Math.Round(m / upTime.TotalSeconds, 1);
        }
        else
        {
            ok = false;
        }

        started = Stopwatch.GetTimestamp();
        try
        {
            leader = await FindLeaderAsync(swarm) ?? leader;
            await apis[leader].RemoveServiceAsync(id);
        }
        catch (Exception e) when (e is SwarmApiException or HttpRequestException or TaskCanceledException)
        {
            entry["error"] = $"remove: {e.Message}";
            Console.Error.WriteLine($"  service of {m}: the remove failed: {e.Message}");
            return false;
        }

        entry["remove_call_s"] = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var gone = await WaitAsync(
            $"the {m} tasks of {name} removed on every hollow worker",
            TimeSpan.FromSeconds(60 + m * 0.004),
            () => Task.FromResult(fleet.Executor.Count == 0),
            () => $"{fleet.Executor.Count} tasks still held by the hollow runtime");
        if (gone is { } goneTime)
        {
            entry["all_removed_s"] = goneTime.TotalSeconds;
        }
        else
        {
            ok = false;
            Console.Error.WriteLine($"  the managers' last lines:\n{swarm.Diagnostics(15)}");
        }

        Console.WriteLine($"  service of {m}: running after {Seconds(up)}, removed from the workers after {Seconds(gone)}");
        return ok;
    }

    private static async Task<bool> RescheduleAndFailoverAsync(LocalSwarm swarm, Dictionary<SwarmNodeProcess, SwarmApiClient> apis, HollowFleet fleet, int n, ScaleOptions options, JsonObject run)
    {
        var m = options.RescheduleTasks;
        var reschedule = new JsonObject { ["replicas"] = m, ["killed_fraction"] = options.KillFraction };
        run["reschedule"] = reschedule;
        string? id = null;
        var created = await WaitAsync(
            "the reschedule service created",
            TimeSpan.FromSeconds(120),
            async () =>
            {
                var l = await FindLeaderAsync(swarm);
                id = l is null ? null : await apis[l].CreateServiceAsync(ServiceScenarios.SleepService("resched", m));
                return id is not null;
            },
            () => "no leader accepted it");
        if (created is null || id is null)
        {
            reschedule["error"] = "the service could not be created";
            Console.Error.WriteLine($"  the managers' last lines:\n{swarm.Diagnostics(15)}");
            return false;
        }

        var (up, running) = await WaitRunningAsync(swarm, apis, id, m, $"{m} replicas RUNNING before the kill", running => $"{running} running");
        if (up is null)
        {
            reschedule["error"] = $"only {running} of {m} running before the kill";
            return false;
        }

        var victims = fleet.Kill((int)Math.Round(n * options.KillFraction));
        var killedAt = Stopwatch.GetTimestamp();
        var killedIds = victims.Select(v => v.NodeId).ToHashSet(StringComparer.Ordinal);
        var lost = victims.Sum(v => v.Worker.Tasks.Count);
        reschedule["killed_workers"] = victims.Count;
        reschedule["their_tasks"] = lost;
        Console.WriteLine($"  killed {victims.Count} hollow workers holding {lost} tasks of {m}");
        double? allDown = null;
        var elsewhere = 0;
        var back = await WaitAsync(
            $"{m} tasks RUNNING on live workers after the kill",
            TimeSpan.FromSeconds(120 + m * 0.01),
            async () =>
            {
                if (allDown is null && await NodesOnLeaderAsync(swarm, apis) is { } nodes
                    && nodes.Count(x => killedIds.Contains(x.ID) && x.Status.State == NodeStates.Down) == killedIds.Count)
                {
                    allDown = Stopwatch.GetElapsedTime(killedAt).TotalSeconds;
                }

                var l = await FindLeaderAsync(swarm);
                if (l is null || await TryAsync(() => apis[l].TasksAsync(id, TaskStates.Running)) is not { } tasks)
                {
                    return false;
                }

                elsewhere = tasks.Count(t => t.Status.State == TaskStates.Running && t.NodeID is { } node && !killedIds.Contains(node));
                return elsewhere >= m;
            },
            () => $"{elsewhere} running on live workers; killed workers all DOWN: {(allDown is null ? "no" : "yes")}");
        reschedule["killed_all_down_s"] = allDown;
        reschedule["running_again_s"] = back?.TotalSeconds;
        Console.WriteLine($"  killed workers DOWN after {(allDown is { } d ? $"{d:0.0} s" : "-")}; {m} running again after {Seconds(back)}");

        var (before, beforeMessages) = fleet.SessionFailures();
        run["session_failures_before_failover"] = before;
        run["session_failure_messages_before_failover"] = beforeMessages;
        var failover = new JsonObject();
        run["failover"] = failover;
        var ok = back is not null && await FailoverAsync(swarm, apis, fleet, id, options.Heartbeat, failover);

        try
        {
            if (await FindLeaderAsync(swarm) is { } leader)
            {
                await apis[leader].RemoveServiceAsync(id);
            }
        }
        catch (Exception e) when (e is SwarmApiException or HttpRequestException or TaskCanceledException)
        {
            Console.Error.WriteLine($"  the reschedule service could not be removed: {e.Message}");
        }

        return ok;
    }

    private static async Task<bool> FailoverAsync(LocalSwarm swarm, Dictionary<SwarmNodeProcess, SwarmApiClient> apis, HollowFleet fleet, string serviceId, TimeSpan heartbeat, JsonObject failover)
    {
        var leader = await FindLeaderAsync(swarm) ?? throw new InvalidOperationException("no leader to kill");
        var survivors = swarm.Nodes.Where(x => x != leader && x.IsRunning).ToList();
        var liveIds = fleet.Live.Select(w => w.NodeId).ToHashSet(StringComparer.Ordinal);
        var everDown = new HashSet<string>(StringComparer.Ordinal);
        long? killedAt = null;
        using var watching = new CancellationTokenSource();
        var watch = Task.Run(async () =>
        {
            while (!watching.IsCancellationRequested)
            {
                foreach (var survivor in survivors)
                {
                    if (await TryAsync(() => apis[survivor].NodesAsync(watching.Token)) is { } nodes)
                    {
                        everDown.UnionWith(nodes.Where(x => liveIds.Contains(x.ID) && x.Status.State == NodeStates.Down).Select(x => x.ID));
                    }
                }

                await Task.Delay(Poll, watching.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        });

        await leader.KillAsync();
        killedAt = Stopwatch.GetTimestamp();
        failover["killed"] = leader.Name;
        string? lastError = null;
        var attempts = new JsonArray();
        var written = await WaitAsync(
            "a write (service label update) accepted through a surviving manager",
            TimeSpan.FromSeconds(120),
            async () =>
            {
                foreach (var survivor in survivors)
                {
                    var attempt = Stopwatch.GetTimestamp();
                    try
                    {
                        await apis[survivor].UpdateServiceAsync(serviceId, spec => (spec.Labels ??= [])["shoal.bench.failover"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
                        attempts.Add($"{Stopwatch.GetElapsedTime(killedAt.Value).TotalSeconds:0.0} s {survivor.Name}: accepted after {Stopwatch.GetElapsedTime(attempt).TotalSeconds:0.0} s");
                        return true;
                    }
                    catch (Exception e) when (e is SwarmApiException or HttpRequestException or TaskCanceledException or IOException)
                    {
                        lastError = $"{survivor.Name}: {e.Message}";
                        if (attempts.Count < 20)
                        {
                            attempts.Add($"{Stopwatch.GetElapsedTime(killedAt.Value).TotalSeconds:0.0} s {survivor.Name}: failed after {Stopwatch.GetElapsedTime(attempt).TotalSeconds:0.0} s: {(e.Message.Length > 200 ? e.Message[..200] : e.Message)}");
                        }
                    }
                }

                return false;
            },
            () => $"last error: {lastError}",
            TimeSpan.FromMilliseconds(200));
        failover["write_accepted_s"] = written?.TotalSeconds;
        failover["write_attempts"] = attempts;

        // Every live node back READY on the new leader, then a watch long enough for a stale heartbeat timer to fire.
        var readyCount = 0;
        var allReady = await WaitAsync(
            $"the {liveIds.Count} live hollow workers READY on the new leader",
            TimeSpan.FromSeconds(180),
            async () =>
            {
                if (await NodesOnLeaderAsync(swarm, apis) is not { } nodes)
                {
                    return false;
                }

                readyCount = nodes.Count(x => liveIds.Contains(x.ID) && x.Status.State == NodeStates.Ready);
                return readyCount == liveIds.Count;
            },
            () => $"{readyCount} READY",
            since: killedAt.Value);
        failover["live_ready_again_s"] = allReady?.TotalSeconds;
        // The new dispatcher's UNKNOWN grace (6 periods) starts when it does, at about the time the write is accepted.
        var settle = TimeSpan.FromSeconds(Math.Max(30, heartbeat.TotalSeconds * 6)) + (written ?? TimeSpan.Zero) - Stopwatch.GetElapsedTime(killedAt.Value);
        if (settle > TimeSpan.Zero)
        {
            await Task.Delay(settle);
        }

        await watching.CancelAsync();
        await watch.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        failover["watched_s"] = Stopwatch.GetElapsedTime(killedAt.Value).TotalSeconds;
        failover["live_nodes_ever_down"] = everDown.Count;
        failover["new_leader"] = (await FindLeaderAsync(swarm))?.Name;
        Console.WriteLine($"  leader {leader.Name} killed: write accepted after {Seconds(written)}, live workers READY after {Seconds(allReady)}, live nodes ever DOWN: {everDown.Count} (watched {Stopwatch.GetElapsedTime(killedAt.Value).TotalSeconds:0} s)");
        return written is not null && allReady is not null;
    }

    /// <summary>
    /// Waits (60 s plus 10 ms per replica) until <c>GET /services?status=true</c> shows <paramref name="m"/> tasks of
    /// <paramref name="id"/> running; returns the time taken (null on a timeout) and the last count seen.
    /// </summary>
    private static async Task<(TimeSpan? Up, ulong Running)> WaitRunningAsync(LocalSwarm swarm, Dictionary<SwarmNodeProcess, SwarmApiClient> apis, string id, int m, string what, Func<ulong, string> seen)
    {
        ulong running = 0;
        var up = await WaitAsync(
            what,
            TimeSpan.FromSeconds(60 + m * 0.01),
            async () => (running = await RunningTasksAsync(swarm, apis, id) ?? running) >= (ulong)m,
            () => seen(running));
        return (up, running);
    }

    /// <summary>
    /// Polls <paramref name="condition"/> every <see cref="Poll"/> (or <paramref name="interval"/>) until it holds and
    /// returns the time taken (from <paramref name="since"/>, else from now), or null after <paramref name="deadline"/>,
    /// having printed what was awaited and <paramref name="seen"/>. Exceptions of a poll count as "not yet".
    /// </summary>
    private static async Task<TimeSpan?> WaitAsync(string what, TimeSpan deadline, Func<Task<bool>> condition, Func<string> seen, TimeSpan? interval = null, long? since = null)
    {
        var started = since ?? Stopwatch.GetTimestamp();
        string? error = null;
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return Stopwatch.GetElapsedTime(started);
                }
            }
            catch (Exception e) when (e is SwarmApiException or HttpRequestException or TaskCanceledException or IOException or JsonException)
            {
                error = e.Message;
            }

            if (Stopwatch.GetElapsedTime(started) > deadline)
            {
                Console.Error.WriteLine($"  TIMEOUT after {deadline.TotalSeconds:0} s waiting for {what}: {seen()}{(error is null ? string.Empty : "; last error: " + error)}");
                return null;
            }

            await Task.Delay(interval ?? Poll);
        }
    }

    /// <summary>The running manager whose own node object says it leads (its API: <c>GET /nodes/{its id}</c>).</summary>
    private static async Task<SwarmNodeProcess?> FindLeaderAsync(LocalSwarm swarm)
    {
        foreach (var node in swarm.Running.Where(x => x.NodeId is not null).ToList())
        {
            if (await TryAsync(() => node.Api.NodeAsync(node.NodeId!)) is { ManagerStatus.Leader: true })
            {
                return node;
            }
        }

        return null;
    }

    private static async Task<List<DockerNode>?> NodesOnLeaderAsync(LocalSwarm swarm, Dictionary<SwarmNodeProcess, SwarmApiClient> apis) =>
        await FindLeaderAsync(swarm) is { } leader ? await TryAsync(() => apis[leader].NodesAsync()) : null;

    private static async Task<ulong?> RunningTasksAsync(LocalSwarm swarm, Dictionary<SwarmNodeProcess, SwarmApiClient> apis, string serviceId) =>
        await FindLeaderAsync(swarm) is { } leader && await TryAsync(() => apis[leader].ServicesAsync()) is { } services
            ? services.FirstOrDefault(s => s.ID == serviceId)?.ServiceStatus?.RunningTasks
            : null;

    private static bool IsReadyHollow(DockerNode node) =>
        node.Status.State == NodeStates.Ready && node.Description.Hostname?.StartsWith("hollow-", StringComparison.Ordinal) == true;

    private static async Task<T?> TryAsync<T>(Func<Task<T>> call) where T : class
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (e is SwarmApiException or HttpRequestException or TaskCanceledException or IOException or JsonException)
        {
            return null;
        }
    }

    private static void PrintTable(JsonObject run)
    {
        Console.WriteLine($"| N = {run["workers"]} | value |");
        Console.WriteLine("|---|---:|");
        foreach (var (key, value) in Flatten(run, string.Empty))
        {
            Console.WriteLine($"| {key} | {value} |");
        }
    }

    private static IEnumerable<(string Key, string Value)> Flatten(JsonNode? node, string prefix)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o)
                {
                    var name = o["manager"] is { } manager && key != "manager" ? $"{prefix}{manager}.{key}"
                        : o["replicas"] is { } replicas && key != "replicas" ? $"{prefix}M={replicas}.{key}"
                        : prefix + key;
                    if (key is "manager" || (key is "replicas" && value is not JsonObject))
                    {
                        continue;
                    }

                    foreach (var item in Flatten(value, value is JsonObject or JsonArray ? name + "." : name))
                    {
                        yield return item;
                    }
                }

                break;
            case JsonArray a:
                foreach (var item in a)
                {
                    foreach (var flat in Flatten(item, item is JsonObject ? prefix : prefix))
                    {
                        yield return flat;
                    }
                }

                break;
            default:
                yield return (prefix.TrimEnd('.'), node is JsonValue v && v.TryGetValue<double>(out var d) ? d.ToString("0.###", CultureInfo.InvariantCulture) : node?.ToJsonString() ?? "-");
                break;
        }
    }

    private static string Seconds(TimeSpan? time) => time is { } t ? $"{t.TotalSeconds:0.0} s" : "- (timed out)";

    private static double Mib(long bytes) => Math.Round(bytes / 1024.0 / 1024.0, 1);

    /// <summary>A process's CPU time so far (user + system, in clock ticks) and resident memory, from /proc.</summary>
    private readonly record struct ProcessSample(long CpuTicks, long RssBytes)
    {
        public static ProcessSample Of(int pid)
        {
            if (pid <= 0)
            {
                return default;
            }

            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                // Fields after the command (which may hold spaces) start at state (3rd); utime is the 14th, stime the 15th.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                long rss = 0;
                foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                {
                    if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    {
                        rss = long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
                    }
                }

                return new ProcessSample(ticks, rss);
            }
            catch (IOException)
            {
                return default;
            }
        }
    }
}
