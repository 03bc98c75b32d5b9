using Shoal.Cli.Commands;
using Shoal.Cli.Output;

namespace Shoal.Cli.Tests;

/// <summary>The pieces of docker's output the CLI reproduces: table layout, durations, sizes, times, sort order, addresses.</summary>
public sealed class OutputFormatTests
{
    [Fact]
    public void Table_PadsEachColumnToItsWidestCellPlusThree_AtLeastTen_AndLeavesTheLastAsIs()
    {
        using var output = new StringWriter();

        Table.Write(output, [["A", "LONGER HEADER", "LAST"], ["a-much-longer-cell", "b", "c"], ["x", "y", "z"]]);

        Assert.Equal(
            $"{"A",-21}{"LONGER HEADER",-16}LAST\n"
            + $"{"a-much-longer-cell",-21}{"b",-16}c\n"
            + $"{"x",-21}{"y",-16}z\n",
            output.ToString());
        using var narrow = new StringWriter();
        Table.Write(narrow, [["ID", "NAME"], ["a", "b"]]);
        Assert.Equal($"{"ID",-10}NAME\n{"a",-10}b\n", narrow.ToString());
    }

    [Theory]
    [InlineData("5s", 5_000_000_000L)]
    [InlineData("2160h", 7_776_000_000_000_000L)]
    [InlineData("1m30s", 90_000_000_000L)]
    [InlineData("1.5s", 1_500_000_000L)]
    [InlineData("300ms", 300_000_000L)]
    [InlineData("10us", 10_000L)]
    [InlineData("10\u00b5s", 10_000L)]
    [InlineData(".5h", 1_800_000_000_000L)]
    [InlineData("0", 0L)]
    [InlineData("-2s", -2_000_000_000L)]
    public void GoDuration_ReadsGoDurations(string text, long nanoseconds)
    {
        Assert.True(GoDuration.TryParse(text, out var parsed, out var error), error);
        Assert.Equal(nanoseconds, parsed);
    }

    [Theory]
    [InlineData("90d", "unknown unit \"d\" in duration \"90d\" (use ns, us, ms, s, m or h)")]
    [InlineData("5", "missing unit in duration \"5\" (use ns, us, ms, s, m or h)")]
    [InlineData("", "invalid duration \"\"")]
    [InlineData("s", "invalid duration \"s\"")]
    [InlineData("1.2.3s", "invalid duration \"1.2.3s\"")]
    [InlineData("9999999999h", "invalid duration \"9999999999h\": longer than 9223372036854775807ns")]
    public void GoDuration_RefusesWhatGoRefuses(string text, string message)
    {
        Assert.False(GoDuration.TryParse(text, out _, out var error));
        Assert.Equal(message, error);
    }

    [Theory]
    [InlineData(0d, "0B")]
    [InlineData(1023d, "1023B")]
    [InlineData(4294967296d, "4GiB")]
    [InlineData(2096103424d, "1.952GiB")]
    [InlineData(1536d, "1.5KiB")]
    public void BytesSize_IsGoUnits(double bytes, string text) => Assert.Equal(text, DockerFormat.BytesSize(bytes));

    [Fact]
    public void GoTime_IsGosTimeString_WithoutTrailingZeros()
    {
        Assert.Equal("2025-05-30 12:00:00.1234 +0000 UTC", DockerFormat.GoTime(new DateTimeOffset(2025, 5, 30, 14, 0, 0, TimeSpan.FromHours(2)).AddTicks(1_234_000)));
        Assert.Equal("2025-05-30 12:00:00 +0000 UTC", DockerFormat.GoTime(new DateTimeOffset(2025, 5, 30, 12, 0, 0, TimeSpan.Zero)));
        Assert.Equal("0001-01-01 00:00:00 +0000 UTC", DockerFormat.GoTime(null));
    }

    [Fact]
    public void NaturalOrder_ComparesNumbersAsNumbers()
    {
        string[] names = ["worker-10", "worker-2", "manager", "worker-02", "worker-1", "Worker", "worker", "10", "9"];

        // Digits before letters, upper case before lower (bytewise), fewer leading zeros first.
        Assert.Equal(["9", "10", "Worker", "manager", "worker", "worker-1", "worker-2", "worker-02", "worker-10"], names.Order(DockerFormat.NaturalOrder));
    }

    [Fact]
    public void Capitalize_UpperCasesTheFirstLetterOnly()
    {
        Assert.Equal("Ready", DockerFormat.Capitalize("ready"));
        Assert.Equal("Leader", DockerFormat.Capitalize("Leader"));
        Assert.Equal(string.Empty, DockerFormat.Capitalize(null));
    }

    [Theory]
    [InlineData("10.0.0.1", "10.0.0.1:4242")]
    [InlineData(":5000", "0.0.0.0:5000")]
    [InlineData("eth0:4243", "eth0:4243")]
    [InlineData("tcp://10.0.0.1:7", "10.0.0.1:7")]
    [InlineData("[fe80::1]", "[fe80::1]:4242")]
    [InlineData("[::]:4000", "[::]:4000")]
    public void NodeAddress_FillsInTheDefaultHostAndPort(string text, string address)
    {
        Assert.True(Flags.TryParseNodeAddress(text, out var parsed, out var error), error);
        Assert.Equal(address, parsed);
    }

    [Theory]
    [InlineData("10.0.0.1:http")]
    [InlineData("10.0.0.1:70000")]
    [InlineData("fe80::1")]
    [InlineData("udp://10.0.0.1")]
    public void NodeAddress_RefusesWhatCannotBeListenedOn(string text) =>
        Assert.False(Flags.TryParseNodeAddress(text, out _, out _));
}
