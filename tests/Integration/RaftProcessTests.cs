using System.Collections.Concurrent;
using Shoal.Bench;

namespace Shoal.Integration.Tests;

/// <summary>Three manager processes with mutual TLS and WALs on disk; the leader killed with SIGKILL, repeatedly.</summary>
public sealed class RaftProcessTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoal-it-raft-").FullName;
    private readonly ConcurrentQueue<string> _log = new();

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task KillingTheLeaderRepeatedly_UnderConcurrentWrites_LosesNoAcknowledgedWrite()
    {
        var options = new RaftGroupOptions { TickMilliseconds = 20, ElectionTick = 10 };
        await using var group = await RaftGroup.StartAsync(3, _root, options, _log.Enqueue);
        var acknowledged = new ConcurrentDictionary<string, bool>();
        var attempted = new ConcurrentDictionary<string, bool>();
        using var stop = new CancellationTokenSource();

        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                var key = $"w{w}-{n}";
                attempted[key] = true;
                // The same key is retried until it is acknowledged: a retry of a write that did commit answers
                // "exists", so no write can land twice.
                while (!stop.IsCancellationRequested)
                {
                    var target = group.Members.FirstOrDefault(m => m.IsRunning && (m.StatusAsync().Result?.IsLeader ?? false));
                    if (target is null)
                    {
                        await Task.Delay(10);
                        continue;
                    }

                    var result = await target.PutAsync(key);
                    if (result is "ok" or "exists")
                    {
                        acknowledged[key] = true;
                        break;
                    }

                    await Task.Delay(10);
                }

                n++;
            }
        })).ToList();

        for (var kill = 0; kill < 3; kill++)
        {
            await Task.Delay(700);
            var leader = await group.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
            leader.Kill();
            await group.WaitForLeaderAsync(TimeSpan.FromSeconds(30), except: leader);
            await Task.Delay(300);
            await leader.StartAsync();
        }

        await Task.Delay(500);
        await stop.CancelAsync();
        await Task.WhenAll(writers);

        // Every member converges on the same store, which holds every acknowledged write exactly once.
        await group.WaitForAsync(async () =>
        {
            var digests = await Task.WhenAll(group.Members.Select(m => m.DigestAsync()));
            return digests.Select(d => d.Digest).Distinct().Count() == 1;
        }, "all stores to be identical", TimeSpan.FromSeconds(30));
        foreach (var member in group.Members)
        {
            var keys = await member.KeysAsync();
            Assert.Equal(keys.Length, keys.Distinct().Count());
            var missing = acknowledged.Keys.Except(keys).ToList();
            Assert.True(missing.Count == 0, $"member {member.RaftId} lacks {missing.Count} acknowledged writes, e.g. {string.Join(", ", missing.Take(5))}");
            Assert.All(keys, k => Assert.True(attempted.ContainsKey(k), $"{k} was never written"));
        }

        Assert.True(acknowledged.Count > 20, $"only {acknowledged.Count} writes were acknowledged");
    }

    [Fact]
    public async Task ACorruptedWalRecord_IsReported_AndTheMemberRefusesToStart()
    {
        await using var group = await RaftGroup.StartAsync(3, _root, new RaftGroupOptions { TickMilliseconds = 20 }, _log.Enqueue);
        var leader = await group.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal("ok", await leader.PutAsync($"k{i}"));
        }

        var victim = group.Members.First(m => m != leader);
        victim.Kill();
        var segment = Directory.GetFiles(Path.Combine(victim.Directory, "raft", "wal"), "*.wal").Order(StringComparer.Ordinal).Last();
        var bytes = await File.ReadAllBytesAsync(segment);
        var offset = bytes.Length / 3;
        bytes[offset] ^= 0xFF;
        await File.WriteAllBytesAsync(segment, bytes);

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => victim.StartAsync());

        Assert.Contains("exited", e.Message, StringComparison.Ordinal);
        var lines = string.Join('\n', _log);
        Assert.Contains(Path.GetFileName(segment), lines, StringComparison.Ordinal);
        Assert.Contains("offset", lines, StringComparison.OrdinalIgnoreCase);
    }
}
