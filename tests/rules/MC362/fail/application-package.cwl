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
      greeting: {type: string, outputSource: say/out}
    steps:
      say:
        run: '#say'
        in: {message: message}
        out: [out]
  - class: ExpressionTool
    id: say
    requirements:
      InlineJavascriptRequirement: {}
    inputs:
      message: {type: string}
    expression: "$({'out': inputs.message})"
    outputs:
      out: {type: string}
