using System.Diagnostics;
using System.Globalization;
using Shoal.Bench;

// Cluster-level harness. Modes:
//   raft-member ...                       one manager process (started by the others)
//   raft-throughput [--seconds 10]        3 managers; commits/s and latency for 1, 64, 256 writers of 200-byte entries
//   raft-failover [--kills 10] [--fast]   3 managers; kill -9 of the leader -> first write committed on a new leader
// Swarms of `shoal agent` processes (LocalSwarm); --verbose streams every node's log to stderr:
//   node-join [--workers 5] [--heartbeat 5] [--concurrent]
//                                         3 managers; POST /swarm/join -> the worker READY on the leader
//   node-down [--reps 5] [--heartbeats 5,1] [--managers 3]
//                                         kill -9 of a worker -> DOWN on the leader, per heartbeat period
//   worker-failover [--workers 3] [--reps 5] [--heartbeat 5]
//                                         3 managers; kill -9 of the leader -> new leader, workers' new sessions,
//                                         all READY on the new leader; live nodes ever shown DOWN
// Services of host-process tasks on 3 drained managers + 5 workers (LocalSwarm; tasks run `/bin/sleep 3600`):
//   service-up [--reps 3] [--replicas 100]
//                                         POST /services/create -> all running; scale to twice as many -> all running;
//                                         tasks per worker; DELETE -> every task process gone
//   service-reschedule [--tasks 60] [--heartbeats 5,1] [--reps 3] [--restart-delay 5]
//                                         kill -9 of a worker holding k tasks -> DOWN; k replacements running elsewhere
//                                         (they wait for the restart delay after DOWN; default the service's 5 s)
// Rolling updates on 1 drained manager + 2 workers, heartbeat 1 s (10 replicas; parallelism 2, delay 2 s, monitor 1 s):
//   service-update [--reps 3] [--failures true|false]
//                                         update call -> completed, stop-first and start-first, against the minimum
//                                         (batches - 1) x delay + monitor; fewest tasks running; then a failing health
//                                         check with failure action pause, and with rollback
// Scale with hollow workers (real join, mTLS session, worker; no runtime) in this process, 3 drained managers:
//   scale [--workers 100,1000,2500] [--tasks 10000,50000,100000] [--reschedule-tasks 10000] [--heartbeat 5]
//         [--join-concurrency 16] [--kill-fraction 0.1] [--steady-seconds 20] [--json path]
//                                         per N: all READY, managers' CPU/RSS, service of M up and removed, 10 %
//                                         killed -> tasks running elsewhere, kill -9 of the leader -> write accepted
// The same docker CLI scenario against a local single-node Docker swarm (Debian's dockerd, root) and a 1-node Shoal swarm:
//   side-by-side [--replicas 50] [--scale 200] [--reps 3] [--restart-delay 0s]
//                                         create (foreground) -> scale (foreground) -> kill -9 of a task's process ->
//                                         back at N running -> rm -> processes gone; both columns and Shoal / Docker
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: Shoal.Bench raft-member|raft-throughput|raft-failover|node-join|node-down|worker-failover|service-up|service-reschedule|service-update|side-by-side|scale [options]");
    return 2;
}

string Option(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

static TimeSpan Seconds(string value) => TimeSpan.FromSeconds(double.Parse(value, CultureInfo.InvariantCulture));

switch (args[0])
{
    case "raft-member":
        return await RaftMemberProcess.RunAsync(MemberArguments.Parse(args));

    case "raft-throughput":
    {
        var seconds = int.Parse(Option("--seconds", "10"), CultureInfo.InvariantCulture);
        var root = Directory.CreateTempSubdirectory("shoal-bench-raft-").FullName;
        var verbose = args.Contains("--verbose");
        await using var group = await RaftGroup.StartAsync(3, root, new RaftGroupOptions { LogLevel = verbose ? "Information" : "Warning" }, verbose ? Console.Error.WriteLine : null);
        var leader = await group.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        Console.WriteLine($"3 managers (processes), mutual TLS on loopback, WAL fsync on every Ready; 200-byte entries proposed on the leader; {seconds} s per row");
        Console.WriteLine("| writers | commits | commits/s | p50 ms | p99 ms |");
        Console.WriteLine("|---:|---:|---:|---:|---:|");
        foreach (var writers in new[] { 1, 64, 256 })
        {
            await leader.ThroughputAsync(writers, 1, 200); // warm-up
            var result = await leader.ThroughputAsync(writers, seconds, 200);
            Console.WriteLine($"| {writers} | {result.Commits} | {result.PerSecond:0} | {result.P50Ms:0.00} | {result.P99Ms:0.00} |");
        }

        Directory.Delete(root, recursive: true);
        return 0;
    }

    case "raft-failover":
    {
        var kills = int.Parse(Option("--kills", "10"), CultureInfo.InvariantCulture);
        var fast = args.Contains("--fast");
        var options = fast ? new RaftGroupOptions { TickMilliseconds = 15, ElectionTick = 10 } : new RaftGroupOptions();
        var root = Directory.CreateTempSubdirectory("shoal-bench-failover-").FullName;
        await using var group = await RaftGroup.StartAsync(3, root, options);
        var timeout = TimeSpan.FromMilliseconds(options.TickMilliseconds * options.ElectionTick * 20);
        Console.WriteLine($"3 managers, election timeout {options.TickMilliseconds * options.ElectionTick}-{options.TickMilliseconds * options.ElectionTick * 2} ms; kill -9 of the leader -> first write committed on a new leader");
        var samples = new List<double>();
        for (var k = 0; k < kills; k++)
        {
            var leader = await group.WaitForLeaderAsync(timeout);
            if (await leader.PutAsync($"warm-{k}") != "ok")
            {
                throw new InvalidOperationException("the leader did not take a write before the kill");
            }

            var killedAt = Stopwatch.GetTimestamp();
            leader.Kill();
            var survivors = group.Members.Where(m => m != leader).ToList();
            string? result = null;
            var key = $"after-{k}";
            while (result is not ("ok" or "exists"))
            {
                foreach (var member in survivors)
                {
                    result = await member.PutAsync(key);
                    if (result is "ok" or "exists")
                    {
                        break;
                    }
                }

                if (Stopwatch.GetElapsedTime(killedAt) > timeout)
                {
                    throw new TimeoutException("no write committed after the kill");
                }
            }

            var ms = Stopwatch.GetElapsedTime(killedAt).TotalMilliseconds;
            samples.Add(ms);
            Console.WriteLine($"kill {k + 1}: first write committed on the new leader after {ms:0} ms");
            await leader.StartAsync();
            await group.WaitForAsync(async () => await leader.StatusAsync() is { Leader: > 0 }, "the restarted member to follow", timeout);
        }

        samples.Sort();
        Console.WriteLine($"median {samples[samples.Count / 2]:0} ms, min {samples[0]:0} ms, max {samples[^1]:0} ms over {samples.Count} kills");
        Directory.Delete(root, recursive: true);
        return 0;
    }

    case "node-join":
        return await SwarmScenarios.NodeJoinAsync(
            int.Parse(Option("--workers", "5"), CultureInfo.InvariantCulture),
            Seconds(Option("--heartbeat", "5")),
            args.Contains("--concurrent"),
            args.Contains("--verbose"));

    case "node-down":
        return await SwarmScenarios.NodeDownAsync(
            [.. Option("--heartbeats", "5,1").Split(',').Select(Seconds)],
            int.Parse(Option("--reps", "5"), CultureInfo.InvariantCulture),
            int.Parse(Option("--managers", "3"), CultureInfo.InvariantCulture),
            args.Contains("--verbose"));

    case "worker-failover":
        return await SwarmScenarios.WorkerFailoverAsync(
            int.Parse(Option("--workers", "3"), CultureInfo.InvariantCulture),
            int.Parse(Option("--reps", "5"), CultureInfo.InvariantCulture),
            Seconds(Option("--heartbeat", "5")),
            args.Contains("--verbose"));

    case "service-up":
        return await ServiceScenarios.ServiceUpAsync(
            int.Parse(Option("--replicas", "100"), CultureInfo.InvariantCulture),
            int.Parse(Option("--reps", "3"), CultureInfo.InvariantCulture),
            args.Contains("--verbose"));

    case "service-reschedule":
        return await ServiceScenarios.ServiceRescheduleAsync(
            int.Parse(Option("--tasks", "60"), CultureInfo.InvariantCulture),
            [.. Option("--heartbeats", "5,1").Split(',').Select(Seconds)],
            int.Parse(Option("--reps", "3"), CultureInfo.InvariantCulture),
            args.Contains("--restart-delay") ? Seconds(Option("--restart-delay", "5")) : null,
            args.Contains("--verbose"));

    case "service-update":
        return await UpdateScenarios.ServiceUpdateAsync(
            int.Parse(Option("--reps", "3"), CultureInfo.InvariantCulture),
            bool.Parse(Option("--failures", "true")),
            args.Contains("--verbose"));

    case "side-by-side":
        return await SideBySide.RunAsync(
            int.Parse(Option("--replicas", "50"), CultureInfo.InvariantCulture),
            int.Parse(Option("--scale", "200"), CultureInfo.InvariantCulture),
            int.Parse(Option("--reps", "3"), CultureInfo.InvariantCulture),
            args.Contains("--restart-delay") ? Option("--restart-delay", "5s") : null,
            args.Contains("--verbose"));

    case "scale":
        return await ScaleScenarios.RunAsync(new ScaleOptions
        {
            Workers = [.. Option("--workers", "100,1000,2500").Split(',').Select(w => int.Parse(w, CultureInfo.InvariantCulture))],
            Tasks = [.. Option("--tasks", "10000,50000,100000").Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture))],
            RescheduleTasks = int.Parse(Option("--reschedule-tasks", "10000"), CultureInfo.InvariantCulture),
            Heartbeat = Seconds(Option("--heartbeat", "5")),
            JoinConcurrency = int.Parse(Option("--join-concurrency", "16"), CultureInfo.InvariantCulture),
            KillFraction = double.Parse(Option("--kill-fraction", "0.1"), CultureInfo.InvariantCulture),
            SteadySample = Seconds(Option("--steady-seconds", "20")),
            JsonPath = args.Contains("--json") ? Option("--json", "scale.json") : null,
            Verbose = args.Contains("--verbose"),
        });

    case "scheduler":
        return await SchedulerBench.RunAsync(args);

    default:
        Console.Error.WriteLine($"unknown mode {args[0]}");
        return 2;
}
