using System.Text;
using Shoal.Agent.Logs;
using Shoal.Api;

namespace Shoal.Agent.Tests.Logs;

public sealed class LogFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("shoal-logs-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PathOf(string name) => Path.Combine(_directory, name);

    private void Append(string name, string text) => File.AppendAllText(PathOf(name), text);

    private static string Text(LogLine line) => Encoding.UTF8.GetString(line.Data);

    private static DateTimeOffset At(long seconds, long micros) => DateTimeOffset.UnixEpoch.AddSeconds(seconds).AddTicks(micros * 10);

    private static List<LogLine> ReadAll(LogFile file, int maxLines = 1000)
    {
        var lines = new List<LogLine>();
        file.Read(lines, maxLines);
        return lines;
    }

    [Fact]
    public void Line_IsSplitIntoItsTimestampAndTheRawMessage()
    {
        Append("stdout.log", "1765012345.123456 hello  world \n");

        var line = Assert.Single(ReadAll(new LogFile(PathOf("stdout.log"), LogStream.Stdout)));

        Assert.Equal(At(1765012345, 123456), line.Timestamp);
        Assert.Equal("hello  world ", Text(line));
        Assert.Equal(LogStream.Stdout, line.Stream);
    }

    [Fact]
    public void EmptyOutputLine_HasAnEmptyMessage()
    {
        Append("stdout.log", "1765012345.000001 \n1765012345.000002\n");

        var lines = ReadAll(new LogFile(PathOf("stdout.log"), LogStream.Stdout));

        Assert.Equal(["", ""], lines.Select(Text));
        Assert.Equal(At(1765012345, 2), lines[1].Timestamp);
    }

    [Fact]
    public void LineWithoutTimestamp_IsTakenWhole_WithTheFilesLastTimestamp()
    {
        Append("stderr.log", "1765012345.500000 first\nno timestamp, here\n12 apples\n");

        var lines = ReadAll(new LogFile(PathOf("stderr.log"), LogStream.Stderr));

        Assert.Equal(["first", "no timestamp, here", "12 apples"], lines.Select(Text));
        Assert.All(lines, l => Assert.Equal(At(1765012345, 500000), l.Timestamp));
    }

    [Fact]
    public void PartialLastLine_IsReturnedOnlyOnceItsNewlineIsWritten()
    {
        var file = new LogFile(PathOf("stdout.log"), LogStream.Stdout);
        Append("stdout.log", "1765012345.000001 a\n1765012345.000002 b");

        Assert.Equal(["a"], ReadAll(file).Select(Text));
        Assert.Empty(ReadAll(file));

        Append("stdout.log", "c\n1765012345.000003 d\n");

        Assert.Equal(["bc", "d"], ReadAll(file).Select(Text));
    }

    [Fact]
    public void MissingFile_ReadsAsEmpty_UntilItIsWritten_AndAfterItIsDeleted()
    {
        var file = new LogFile(PathOf("stdout.log"), LogStream.Stdout);
        Assert.Empty(ReadAll(file));

        Append("stdout.log", "1765012345.000001 late\n");
        Assert.Equal(["late"], ReadAll(file).Select(Text));

        File.Delete(PathOf("stdout.log"));
        Assert.Empty(ReadAll(file));
        Assert.Empty(ReadAll(new LogFile(Path.Combine(_directory, "no-such-task", "stdout.log"), LogStream.Stdout)));
    }

    [Fact]
    public void Read_StopsAtMaxLines_AndTheNextReadGoesOnFromThere()
    {
        Append("stdout.log", string.Concat(Enumerable.Range(1, 10).Select(i => $"1765012345.{i:000000} line {i}\n")));
        var file = new LogFile(PathOf("stdout.log"), LogStream.Stdout);

        var first = ReadAll(file, maxLines: 4);
        var second = ReadAll(file, maxLines: 4);
        var third = ReadAll(file, maxLines: 4);

        Assert.Equal(["line 1", "line 2", "line 3", "line 4"], first.Select(Text));
        Assert.Equal(["line 5", "line 6", "line 7", "line 8"], second.Select(Text));
        Assert.Equal(["line 9", "line 10"], third.Select(Text));
        Assert.Equal(new FileInfo(PathOf("stdout.log")).Length, file.Offset);
    }

    [Fact]
    public void VeryLongLine_IsCutIntoPiecesOfTheMaximumSize()
    {
        var message = new string('x', LogFile.MaxLineBytes * 2 + 10);
        Append("stdout.log", $"1765012345.000001 {message}\n");

        var lines = ReadAll(new LogFile(PathOf("stdout.log"), LogStream.Stdout));

        Assert.Equal(3, lines.Count);
        Assert.All(lines, l => Assert.True(l.Data.Length <= LogFile.MaxLineBytes, $"a piece of {l.Data.Length} bytes"));
        Assert.Equal(message, string.Concat(lines.Select(Text)));
        Assert.All(lines, l => Assert.Equal(At(1765012345, 1), l.Timestamp));
    }

    [Theory]
    [InlineData("1765012345.123456 x", true, 1765012345L, 123456L)]
    [InlineData("1765012345,123456 x", true, 1765012345L, 123456L)]
    [InlineData("1765012345.5 x", true, 1765012345L, 500000L)]
    [InlineData("1765012345 x", false, 0L, 0L)]
    [InlineData("hello.world x", false, 0L, 0L)]
    [InlineData("a b.1 c", false, 0L, 0L)]
    [InlineData("-5.000001 x", false, 0L, 0L)]
    [InlineData("", false, 0L, 0L)]
    public void TryParseTimestamp_AcceptsOnlyTheExecutorsPrefix(string line, bool parses, long seconds, long micros)
    {
        var ok = LogFile.TryParseTimestamp(Encoding.UTF8.GetBytes(line), out var timestamp, out var start);

        Assert.Equal(parses, ok);
        if (parses)
        {
            Assert.Equal(At(seconds, micros), timestamp);
            Assert.Equal("x", line[start..]);
        }
    }
}

public sealed class TaskLogReaderTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("shoal-task-logs-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private void Append(string name, string text) => File.AppendAllText(Path.Combine(_directory, name), text);

    private static List<string> ReadAll(TaskLogReader reader, int maxLines = 1000)
    {
        var lines = new List<LogLine>();
        reader.Read(lines, maxLines);
        return [.. lines.Select(l => $"{(l.Stream == LogStream.Stdout ? "out" : "err")}:{Encoding.UTF8.GetString(l.Data)}")];
    }

    [Fact]
    public void Streams_AreMergedByTimestamp()
    {
        Append(TaskLogReader.StdoutFileName, "100.000001 o1\n100.000004 o2\n100.000005 o3\n");
        Append(TaskLogReader.StderrFileName, "100.000002 e1\n100.000003 e2\n100.000006 e3\n");

        Assert.Equal(["out:o1", "err:e1", "err:e2", "out:o2", "out:o3", "err:e3"], ReadAll(new TaskLogReader(_directory, [])));
    }

    [Fact]
    public void OnlyTheRequestedStream_IsRead()
    {
        Append(TaskLogReader.StdoutFileName, "100.000001 o1\n");
        Append(TaskLogReader.StderrFileName, "100.000002 e1\n");

        Assert.Equal(["err:e1"], ReadAll(new TaskLogReader(_directory, [LogStream.Stderr])));
    }

    [Fact]
    public void NextRead_ReturnsOnlyLinesWrittenSince()
    {
        var reader = new TaskLogReader(_directory, [LogStream.Stdout, LogStream.Stderr]);
        Assert.Empty(ReadAll(reader));

        Append(TaskLogReader.StdoutFileName, "100.000001 o1\n");
        Assert.Equal(["out:o1"], ReadAll(reader));

        Append(TaskLogReader.StderrFileName, "100.000002 e1\n");
        Append(TaskLogReader.StdoutFileName, "100.000003 o2\n");
        Assert.Equal(["err:e1", "out:o2"], ReadAll(reader));
        Assert.Empty(ReadAll(reader));
    }

    [Fact]
    public void MaxLines_IsRespected_AcrossBothStreams()
    {
        Append(TaskLogReader.StdoutFileName, "100.000001 o1\n100.000003 o2\n");
        Append(TaskLogReader.StderrFileName, "100.000002 e1\n100.000004 e2\n");
        var reader = new TaskLogReader(_directory, []);

        Assert.Equal(["out:o1", "err:e1", "out:o2"], ReadAll(reader, maxLines: 3));
        Assert.Equal(["err:e2"], ReadAll(reader, maxLines: 3));
    }
}
