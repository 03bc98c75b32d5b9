using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Shoal.Benchmarks;

/// <summary>
/// A short job so the whole store suite runs in minutes on a 2-core machine: in-process (no child build per class),
/// 3 warm-up and 10 measured iterations of about 250 ms each, median and allocation columns. The machine is shared,
/// so read the medians.
/// </summary>
public sealed class StoreBenchConfig : ManualConfig
{
    public StoreBenchConfig()
    {
        AddJob(ShortJob);
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.Median, StatisticColumn.Min, StatisticColumn.Max);
    }

    public static Job ShortJob { get; } = Job.Default
        .WithToolchain(InProcessEmitToolchain.Instance)
        .WithStrategy(RunStrategy.Throughput)
        .WithLaunchCount(1)
        .WithWarmupCount(3)
        .WithIterationCount(10)
        .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(250))
        .WithId("Short");
}
