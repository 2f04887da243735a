cwlVersion: v1.2
$namespaces:
  s: https://schema.org/
s:softwareVersion: 1.0.0
$graph:
  - class: Workflow
    id: main
    label: Greeting
    inputs:
      message: {type: string}
    outputs:
      greeting: {type: File, outputSource: say/out}
    steps:
      say:
        run: '#say'
        in: {message: message}
        out: [out]
  - class: CommandLineTool
    id: say
    requirements:
      DockerRequirement: {dockerPull: local/python:3.11-bookworm}
    baseCommand: [python3, -c, "import sys; print(sys.argv[1])"]
    stdout: greeting.txt
    inputs:
      message: {type: string, inputBinding: {position: 1}}
    outputs:
      out: {type: stdout}
