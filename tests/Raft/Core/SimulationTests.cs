using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Shoal.Raft.Tests.Core;

/// <summary>
/// The deterministic simulation (<see cref="Simulation"/>): its checker proven to catch what it should, replays,
/// and the soak entry point. The seed ranges CI runs are in <see cref="SimulationThreeMemberTests"/> and
/// <see cref="SimulationFiveMemberTests"/> (two classes, so that xunit runs them in parallel).
/// </summary>
public sealed class SimulationTests
{
    /// <summary>Seeds the soak test runs unless SHOAL_SIM_SEEDS says otherwise (they start after the CI ranges).</summary>
    private const int DefaultSoakSeeds = 8;

    private const int SoakFirstSeed = 1_000_000;

    [Fact]
    public void Checker_RejectsAReadOfAnOverwrittenValue()
    {
        // w(1) then w(2) complete, then a read returns 1: no order of the writes explains it.
        var history = new[]
        {
            Write(0, "x", "1", 1, 2),
            Write(0, "x", "2", 3, 4),
            Read(1, "x", "1", 5, 6),
        };

        Assert.NotNull(LinearizabilityChecker.Check(history));
    }

    [Fact]
    public void Checker_RejectsReadsThatGoBackInTime()
    {
        // The write overlaps both reads, so each alone is fine; but once one read saw 1, a later one cannot see ∅.
        var history = new[]
        {
            Write(0, "x", "1", 1, 10),
            Read(1, "x", "1", 2, 3),
            Read(2, "x", null, 4, 5),
        };

        Assert.NotNull(LinearizabilityChecker.Check(history));
    }

    [Fact]
    public void Checker_RejectsAValueNobodyWrote_AndALostWriteThatTookEffect()
    {
        Assert.NotNull(LinearizabilityChecker.Check([Read(0, "x", "ghost", 1, 2)]));
        Assert.NotNull(LinearizabilityChecker.Check([Write(0, "x", "1", 1, null) with { Lost = true }, Read(1, "x", "1", 3, 4)]));
    }

    [Fact]
    public void Checker_AcceptsConcurrentOperationsInSomeOrder()
    {
        // Two overlapping writes and reads that saw them in the order 2, 1 — possible, since the writes overlap.
        var history = new[]
        {
            Write(0, "x", "1", 1, 10),
            Write(1, "x", "2", 2, 9),
            Read(2, "x", "2", 3, 4),
            Read(2, "x", "1", 5, 6),
            Read(3, "x", "1", 11, 12),
            Write(0, "y", "a", 1, 2),
            Read(1, "y", "a", 3, 4),
        };

        Assert.Null(LinearizabilityChecker.Check(history));
    }

    [Fact]
    public void Checker_LetsAWriteWithoutAResponse_TakeEffectLaterOrNever()
    {
        // A write whose client gave up may appear long after it was invoked...
        Assert.Null(LinearizabilityChecker.Check(
        [
            Write(0, "x", "1", 1, null),
            Read(1, "x", null, 5, 6),
            Read(1, "x", "1", 20, 21),
        ]));

        // ...or never...
        Assert.Null(LinearizabilityChecker.Check([Write(0, "x", "1", 1, null), Read(1, "x", null, 20, 21)]));

        // ...but not before it was invoked.
        Assert.NotNull(LinearizabilityChecker.Check([Read(1, "x", "1", 1, 2), Write(0, "x", "1", 3, null)]));
    }

    /// <summary>The same seed gives the same run, message for message (and a different seed a different one).</summary>
    [Fact]
    public void ASeed_ReplaysTheSameRunExactly()
    {
        var first = Simulation.Run(7);
        var second = Simulation.Run(7);
        var other = Simulation.Run(9);

        Assert.Equal(first.Fingerprint, second.Fingerprint);
        Assert.Equal(first.Stats.ToString(), second.Stats.ToString());
        Assert.NotEqual(first.Fingerprint, other.Fingerprint);
    }

    /// <summary>
    /// The whole chain has teeth: a simulation whose reads skip ReadIndex and read any member's state is caught by
    /// the linearizability check within a few seeds.
    /// </summary>
    [Fact]
    public void ReadsThatSkipReadIndex_AreCaughtAsNotLinearizable()
    {
        var runs = Enumerable.Range(0, 20)
            .Select(seed => new Simulation(SimulationSettings.FromSeed(seed) with { UnsafeLocalReads = true }).Run()).ToList();
        var caught = runs.FirstOrDefault(r => r.Failure?.Contains("linearizability", StringComparison.Ordinal) == true);

        Assert.True(caught is not null, string.Join("\n", runs.Select(r => r.Describe())));
        TestContext.Current.TestOutputHelper?.WriteLine(caught.Describe());
    }

    /// <summary>
    /// Replays one seed: SHOAL_SIM_SEED=n (seed 0 when unset), printing what the run did; SHOAL_SIM_TRACE=n prints
    /// the last n events of a failing run instead of the last 80.
    /// </summary>
    [Fact]
    public void Replay()
    {
        var seed = int.Parse(Environment.GetEnvironmentVariable("SHOAL_SIM_SEED") ?? "0", CultureInfo.InvariantCulture);
        var trace = int.Parse(Environment.GetEnvironmentVariable("SHOAL_SIM_TRACE") ?? "80", CultureInfo.InvariantCulture);

        var result = new Simulation(SimulationSettings.FromSeed(seed) with { TraceLength = trace }).Run();

        TestContext.Current.TestOutputHelper?.WriteLine(result.Describe());
        Assert.True(result.Failure is null, result.Describe());
    }

    /// <summary>
    /// Soak: SHOAL_SIM_SEEDS=n runs n seeds from <see cref="SoakFirstSeed"/> (or SHOAL_SIM_FIRST_SEED) on every core;
    /// without it, a few, like any other test.
    /// </summary>
    [Fact]
    public void Soak()
    {
        var count = int.Parse(Environment.GetEnvironmentVariable("SHOAL_SIM_SEEDS") ?? DefaultSoakSeeds.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var first = int.Parse(Environment.GetEnvironmentVariable("SHOAL_SIM_FIRST_SEED") ?? SoakFirstSeed.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var failures = new ConcurrentBag<SimulationResult>();
        var clock = Stopwatch.StartNew();

        Parallel.For(first, first + count, seed =>
        {
            if (Simulation.Run(seed) is { Failure: not null } failed)
            {
                failures.Add(failed);
            }
        });

        TestContext.Current.TestOutputHelper?.WriteLine($"{count} seeds from {first} in {clock.Elapsed.TotalSeconds:F1} s, {failures.Count} failed");
        Assert.True(failures.IsEmpty, string.Join("\n\n", failures.OrderBy(f => f.Settings.Seed).Take(3).Select(f => f.Describe())) + $"\n({failures.Count} seeds failed: {string.Join(", ", failures.Select(f => f.Settings.Seed).Order())})");
    }

    /// <summary>Runs every seed of the range and fails with the first failure in full and the list of failing seeds.</summary>
    internal static void RunSeeds(int from, int to, int step)
    {
        var failures = new List<SimulationResult>();
        for (var seed = from; seed < to; seed += step)
        {
            if (Simulation.Run(seed) is { Failure: not null } failed)
            {
                failures.Add(failed);
            }
        }

        Assert.True(failures.Count == 0, failures.Count == 0 ? null : $"{failures[0].Describe()}\n(seeds that failed: {string.Join(", ", failures.Select(f => f.Settings.Seed))})");
    }

    private static KvOperation Write(int client, string key, string value, long invoked, long? returned) => new(client, key, true, value, invoked, returned);

    private static KvOperation Read(int client, string key, string? value, long invoked, long returned) => new(client, key, false, value, invoked, returned);
}

/// <summary>The CI seeds of three-member groups (even seeds), in chunks so that a failure names a small range.</summary>
public sealed class SimulationThreeMemberTests
{
    public const int Seeds = 800;
    public const int Chunk = 50;

    public static TheoryData<int> Chunks() => [.. Enumerable.Range(0, Seeds / Chunk).Select(c => c * Chunk * 2)];

    [Theory]
    [MemberData(nameof(Chunks))]
    public void ThreeMembers_StaySafeAndLinearizable_UnderFaults(int firstSeed) => SimulationTests.RunSeeds(firstSeed, firstSeed + (Chunk * 2), 2);
}

/// <summary>The CI seeds of five-member groups (odd seeds), in chunks so that a failure names a small range.</summary>
public sealed class SimulationFiveMemberTests
{
    public const int Seeds = 800;
    public const int Chunk = 50;

    public static TheoryData<int> Chunks() => [.. Enumerable.Range(0, Seeds / Chunk).Select(c => (c * Chunk * 2) + 1)];

    [Theory]
    [MemberData(nameof(Chunks))]
    public void FiveMembers_StaySafeAndLinearizable_UnderFaults(int firstSeed) => SimulationTests.RunSeeds(firstSeed, firstSeed + (Chunk * 2), 2);
}
